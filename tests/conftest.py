"""Shared fixtures: one loopback-only Ray for the whole test session, and the only S3 it knows.

The session's S3 is a moto server on 127.0.0.1 (``tests/s3_server.py``), started before Ray so
that every Ray worker inherits its endpoint and dummy credentials through the environment, as
workers on a real cluster inherit theirs; nothing in a test run can reach a real object store.
"""

from __future__ import annotations

import os
import sys
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
# ... and this process's: a test imports a helper of another folder by its bare name too.
sys.path[:0] = [str(p) for p in TEST_FOLDERS if str(p) not in sys.path]


@pytest.fixture(scope="session")
def s3_endpoint():
    """``http://127.0.0.1:<port>`` of the session's S3 server; its client settings (endpoint,
    dummy keys, no instance metadata) are in the environment for the whole session."""
    from s3_server import moto_s3_server, s3_client_env

    with moto_s3_server() as server, s3_client_env(server.endpoint_url):
        yield server.endpoint_url


@pytest.fixture(scope="session")
def ray_session(s3_endpoint):
    """One ``ray.init`` (about 4 s) shared by every test that needs Ray."""
    import ray

    from crossmodal_ray.training.ray_runtime import init_ray

    init_ray(num_cpus=4)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()
