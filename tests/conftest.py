"""Shared fixtures: one loopback-only Ray for the whole test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from training.ray_runtime import apply_local_ray_env  # noqa: E402

apply_local_ray_env()
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Ray workers unpickle test-defined tasks by module name: put the repo and tests/ on their path.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO_ROOT), str(REPO_ROOT / "tests"), os.environ.get("PYTHONPATH", "")]
).rstrip(os.pathsep)


@pytest.fixture(scope="session")
def ray_session():
    """One ``ray.init`` (about 4 s) shared by every test that needs Ray."""
    import ray

    from training.ray_runtime import init_ray

    init_ray(num_cpus=4)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()
