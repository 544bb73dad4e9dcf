"""The wheel installs under one package name, ``crossmodal_ray``, and claims no generic top-level
name: installed in a fresh virtual environment beside another project's ``models`` package,
both import."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

from repo_paths import REPO_ROOT


def run(*command: str, cwd=None) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_wheel_installs_beside_a_package_named_models(tmp_path):
    # Build from a copy of what the wheel is made of (setuptools writes build/ next to it).
    source = tmp_path / "source"
    for folder in ("pipelines", "models", "training"):
        shutil.copytree(
            REPO_ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--no-index", "-q", "-w", str(wheels), str(source),
    )  # fmt: skip
    (wheel,) = wheels.glob("crossmodal_ray-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"crossmodal_ray", wheel.name.split("-py3")[0] + ".dist-info"}, top_level
    assert "crossmodal_ray/pipelines/core/runner.py" in names
    assert "crossmodal_ray/models/mbsl/model.py" in names
    assert "crossmodal_ray/training/tasks/mbsl.py" in names

    # Another project that owns the name ``models``.
    other = tmp_path / "other"
    (other / "models").mkdir(parents=True)
    (other / "models" / "__init__.py").write_text('OWNER = "another project"\n')
    (other / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "another-models"\nversion = "1.0"\n'
        '[tool.setuptools]\npackages = ["models"]\n'
    )
    run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--no-index", "-q", "-w", str(wheels), str(other),
    )  # fmt: skip
    (other_wheel,) = wheels.glob("another_models-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", str(venv))
    python = str(venv / "bin" / "python")
    run(
        python,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        str(other_wheel),
        str(wheel),
    )
    # Torch-free modules of the project, next to the other project's ``models``.
    out = run(
        python,
        "-c",
        "import models, crossmodal_ray.models, crossmodal_ray.pipelines.core.splits as s;"
        "print(models.OWNER); print(s.split_of_key('S01', salt=10));"
        "print(crossmodal_ray.models.__file__)",
        cwd=tmp_path,
    )
    owner, split, location = out.splitlines()
    assert owner == "another project"
    assert split in ("train", "val", "test")
    assert str(venv) in location  # the installed copy, not the source tree
