"""Start or join Ray the same way in every job and test.

A local Ray started here listens on 127.0.0.1 only, keeps token authentication on (Ray 2.60's
default; the token lives in ``~/.ray/auth_token``) and sends no usage statistics. Given an
address (``--address`` or ``RAY_ADDRESS``), the job joins that cluster instead.
"""

from __future__ import annotations

import os

LOOPBACK = "127.0.0.1"
MIN_LOCAL_CPUS = 4

# Set before ``import ray`` anywhere in the process: usage stats off, loopback-only node.
LOCAL_RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "token",
    "RAY_TRAIN_V2_ENABLED": "1",
}


def apply_local_ray_env() -> None:
    """Put the loopback/token/no-telemetry settings into this process's environment."""
    for key, value in LOCAL_RAY_ENV.items():
        os.environ.setdefault(key, value)


def init_ray(address: str | None = None, num_cpus: int | None = None, quiet: bool = True) -> None:
    """Join ``address`` (or ``RAY_ADDRESS``) if given, else start a loopback-only local Ray.

    ``num_cpus`` is a lower bound for a local Ray (at least ``MIN_LOCAL_CPUS`` logical CPUs).

    Does nothing when Ray is already initialised in this process (e.g. inside ``ray job submit``
    the driver is started with ``RAY_ADDRESS`` set, and tests share one session).
    """
    apply_local_ray_env()
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    # Workers inherit the loopback settings through the runtime environment.
    runtime_env = {"env_vars": {k: os.environ[k] for k in LOCAL_RAY_ENV}}
    log_level = "ERROR" if quiet else "INFO"
    if address:
        ray.init(address=address, runtime_env=runtime_env, logging_level=log_level)
    else:
        # Ray Train workers hold one CPU each; Ray Data needs CPUs of its own to stream the
        # shards to them, or the run waits forever. Logical CPUs may exceed physical cores.
        num_cpus = max(num_cpus or 0, os.cpu_count() or 1, MIN_LOCAL_CPUS)
        # address="local": always a new local instance, never a cluster some other process
        # on this machine started (plain ray.init() would join it via /tmp/ray).
        ray.init(
            address="local",
            num_cpus=num_cpus,
            _node_ip_address=LOOPBACK,
            include_dashboard=False,
            runtime_env=runtime_env,
            logging_level=log_level,
        )
