"""Shared fixtures: one loopback-only Ray for the whole test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crossmodal_ray.training.ray_runtime import apply_local_ray_env

TESTS_DIR = Path(__file__).resolve().parent

apply_local_ray_env()
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Ray workers unpickle test-defined tasks (classes in tests/regression_task.py or in a test
# module) by module name: put tests/ and its sub-folders on their path (test file names are
# unique across folders). The project itself is installed (``pip install -e .``).
TEST_FOLDERS = [
    TESTS_DIR,
    *sorted(p for p in TESTS_DIR.rglob("*") if p.is_dir() and p.name != "__pycache__"),
]
os.environ["PYTHONPATH"] = os.pathsep.join(
    [*map(str, TEST_FOLDERS), os.environ.get("PYTHONPATH", "")]
).rstrip(os.pathsep)


@pytest.fixture(scope="session")
def ray_session():
    """One ``ray.init`` (about 4 s) shared by every test that needs Ray."""
    import ray

    from crossmodal_ray.training.ray_runtime import init_ray

    init_ray(num_cpus=4)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()
