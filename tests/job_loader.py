"""Load a job script (``jobs/<name>.py``) as a module, the way ``python jobs/<name>.py`` runs it.

Jobs are entry points, not an importable package: the wheel installs ``crossmodal_ray`` only,
and jobs never import each other. Tests that call a job's ``main(argv)`` in-process load it
from its file here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

JOBS_DIR = Path(__file__).resolve().parents[1] / "jobs"


def load_job(name: str) -> ModuleType:
    """The module of ``jobs/<name>.py`` (loaded once per test session)."""
    module_name = f"_job_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, JOBS_DIR / f"{name}.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(JOBS_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
