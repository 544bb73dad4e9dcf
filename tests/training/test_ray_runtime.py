"""What the processes of a local Ray from ``init_ray`` inherit: the loopback, token and quiet
settings reach every task and actor (through the environment, not a job runtime_env), and the
State API address stays out of the driver's own environment."""

from __future__ import annotations

import os

from crossmodal_ray.training.ray_runtime import (
    API_SERVER_ADDRESS_VAR,
    LOCAL_RAY_ENV,
    QUIET_WORKER_ENV,
    RAY_DATA_LOGGING_CONFIG_VAR,
)

WANTED = (*LOCAL_RAY_ENV, *QUIET_WORKER_ENV, API_SERVER_ADDRESS_VAR, RAY_DATA_LOGGING_CONFIG_VAR)


def _settings() -> dict[str, str | None]:
    return {key: os.environ.get(key) for key in WANTED}


def test_tasks_and_actors_of_a_local_ray_get_its_settings(ray_session):
    ray = ray_session
    task_env = ray.get(ray.remote(_settings).remote())

    @ray.remote
    class Probe:
        def settings(self) -> dict[str, str | None]:
            return _settings()

    actor_env = ray.get(Probe.remote().settings.remote())
    # init_ray keeps values already in the driver's environment, else sets these defaults.
    expected = {k: os.environ.get(k, v) for k, v in {**LOCAL_RAY_ENV, **QUIET_WORKER_ENV}.items()}
    for env in (task_env, actor_env):
        assert {k: env[k] for k in expected} == expected
        assert env[API_SERVER_ADDRESS_VAR].startswith("http://127.0.0.1:")
        assert env[RAY_DATA_LOGGING_CONFIG_VAR] == os.environ[RAY_DATA_LOGGING_CONFIG_VAR]
    assert API_SERVER_ADDRESS_VAR not in os.environ  # it would redirect `ray job submit`
    # No job runtime_env: the raylet's prestarted workers can run the job's tasks.
    assert not ray.get_runtime_context().runtime_env
