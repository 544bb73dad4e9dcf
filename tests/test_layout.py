"""The rooms of ``../shared/DESIGN.md``: shared code never imports system code, models never see
Ray, pipelines never see torch, jobs are installed-package entry points that import no job."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from repo_paths import REPO_ROOT

PACKAGE = "crossmodal_ray"
LIBRARY = ("pipelines", "models", "training")
SHARED_MODEL_ROOMS = ("losses", "layers")


def python_files(folder: str) -> list[Path]:
    return sorted(p for p in (REPO_ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import``/``from ... import`` in the file names (absolute names)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative imports are not used in this project
                modules.add("." * node.level + (node.module or ""))
            elif node.module:
                modules.add(node.module)
    return modules


def room_of(path: Path) -> tuple[str, ...]:
    return path.relative_to(REPO_ROOT).with_suffix("").parts


def violations(folder: str, rule) -> list[str]:
    found = []
    for path in python_files(folder):
        for module in sorted(imported_modules(path)):
            reason = rule(room_of(path), module)
            if reason:
                found.append(f"{path.relative_to(REPO_ROOT)} imports {module}: {reason}")
    return found


def _project_parts(module: str) -> tuple[str, ...] | None:
    parts = module.split(".")
    return tuple(parts[1:]) if parts[0] == PACKAGE else None


def pipelines_rule(room, module):
    parts = _project_parts(module)
    if module.startswith(("torch", "ray.train", "ray.tune")):
        return "a pipeline knows nothing about torch modules or training"
    if parts and parts[0] in ("models", "training"):
        return "pipelines never import models/ or training/"
    if room[1] == "core" and parts and parts[0] == "pipelines" and parts[1] != "core":
        return "pipelines/core is shared: it imports no modality"
    return None


def models_rule(room, module):
    parts = _project_parts(module)
    if module == "ray" or module.startswith("ray."):
        return "a model knows nothing about Ray"
    if parts and parts[0] in ("pipelines", "training"):
        return "models never import pipelines/ or training/"
    if room[1] in SHARED_MODEL_ROOMS and parts and parts[0] == "models":
        if parts[1] not in SHARED_MODEL_ROOMS:
            return f"models/{room[1]} is shared: it imports no system module"
    return None


def training_rule(room, module):
    parts = _project_parts(module)
    if not parts:
        return None
    if parts[0] == "pipelines" and parts[1] != "core":
        return "training reads shards through pipelines/core only"
    in_tasks = len(room) > 2 and room[1] == "tasks"
    if not in_tasks and parts[:2] == ("training", "tasks"):
        return "the shared training code imports no system task"
    if not in_tasks and parts[0] == "models" and parts[1] not in SHARED_MODEL_ROOMS:
        return "the shared training code imports no system model"
    return None


@pytest.mark.parametrize(
    "folder, rule",
    [("pipelines", pipelines_rule), ("models", models_rule), ("training", training_rule)],
)
def test_rooms_import_only_what_they_may(folder, rule):
    assert violations(folder, rule) == []


def test_every_module_uses_the_installed_package_name():
    bare = []
    for folder in (*LIBRARY, "jobs", "benchmarks", "tests"):
        for path in python_files(folder):
            for module in imported_modules(path):
                if module.split(".")[0] in LIBRARY or module.startswith("."):
                    bare.append(f"{path.relative_to(REPO_ROOT)}: {module}")
    assert bare == []


def test_jobs_are_entry_points_that_import_no_job_and_edit_no_path():
    jobs = python_files("jobs")
    assert {p.stem for p in jobs} >= {
        "ingest_physio",
        "train_mbsl",
        "tune_mbsl",
        "make_physio_corpus",
    }
    names = {p.stem for p in jobs}
    for path in [*jobs, *python_files("benchmarks")]:
        text = path.read_text()
        assert "sys.path" not in text, path
        for module in imported_modules(path):
            assert module.split(".")[0] not in {"jobs", *names}, (path, module)


def test_each_system_room_is_found_by_folder_name():
    expected = [
        "pipelines/core/runner.py",
        "pipelines/core/storage.py",
        "pipelines/physio/source.py",
        "pipelines/sample_corpus/physio",
        "models/losses/info_nce.py",
        "models/layers/patch_embedding.py",
        "models/mbsl/model.py",
        "training/loop.py",
        "training/task.py",
        "training/sweep/driver.py",
        "training/metrics/linear_probe.py",
        "training/tasks/mbsl.py",
        "jobs/train_mbsl.py",
    ]
    assert [p for p in expected if not (REPO_ROOT / p).exists()] == []


def test_the_rules_catch_what_they_forbid():
    assert pipelines_rule(("pipelines", "core", "runner"), "crossmodal_ray.pipelines.physio.x")
    assert pipelines_rule(("pipelines", "physio", "source"), "torch")
    assert not pipelines_rule(("pipelines", "physio", "source"), "crossmodal_ray.pipelines.core.x")
    assert models_rule(("models", "losses", "info_nce"), "crossmodal_ray.models.mbsl.model")
    assert models_rule(("models", "mbsl", "model"), "ray.train")
    assert not models_rule(("models", "mbsl", "model"), "crossmodal_ray.models.layers.revin")
    assert training_rule(("training", "loop"), "crossmodal_ray.training.tasks.mbsl")
    assert training_rule(("training", "tasks", "mbsl"), "crossmodal_ray.pipelines.physio.schema")
    assert not training_rule(("training", "tasks", "mbsl"), "crossmodal_ray.models.mbsl.model")
