"""Start or join Ray the same way in every job and test.

A local Ray started here listens on 127.0.0.1 only (dashboard and its agent included), keeps
token authentication on (Ray 2.60's default; the token lives in ``~/.ray/auth_token``) and
sends no usage statistics. Given an address (``--address`` or ``RAY_ADDRESS``), the job joins
that cluster instead.

The dashboard runs (on 127.0.0.1, a free port) because it serves the State API, which Ray
Train's ``PlacementGroupCleaner`` (one detached actor per Train run) polls every second to
learn whether the run's controller still lives. Once it is dead (e.g. Ray Tune's ASHA stopped
the trial) the cleaner removes the run's worker placement group, about a second later; without
the State API it warned every second and never freed the CPUs. The workers reach this Ray's
State API through ``RAY_API_SERVER_ADDRESS``: Ray's own lookup fails ("Found multiple active
Ray instances") as soon as a second Ray runs on the machine. That variable is given to Ray's
processes only, never left in this process's environment, where it would redirect
``ray job submit --address ...`` run from here. Train's preemption watcher is off for a local
Ray: one machine is never drained. A job that runs no Ray Train (the physio ingest) may pass
``dashboard=False``: Ray then starts a minimal dashboard head without its nine module
processes, which ``ray.init`` waits for before it starts the raylet (~1 of ~5 s and 1.2 of
~5.3 CPU-s of a local ``ray.init`` on a busy 2-core machine).

The console (``quiet=True``, the default) shows the project's own lines (``[tag] ...``,
printed by the driver or forwarded from Ray's workers), warnings and errors, and the final
JSON line; Ray's INFO chatter goes to files in Ray's session folder
(``/tmp/ray/session_*/logs``) or nowhere:

- ``ray.init(logging_config=ray.LoggingConfig(log_level="WARNING"))``: the root and ``ray``
  loggers of the driver and of every worker of the job log WARNING and up (applied by Ray in
  each worker). With a job logging config Ray also drops the ``(Actor pid=...)`` prefix of
  forwarded worker lines, so the project's lines start with their tag.
- Ray Train (``RAY_TRAIN_*``, read in the controller and worker processes, and forwarded by
  Train itself from controller to workers): ``ENABLE_PRINT_PATCH=0`` leaves ``print`` alone
  (Train's patch sent every line through its logger and echoed it, so it appeared twice);
  ``ENABLE_CONTROLLER_/WORKER_STRUCTURED_LOGGING=0`` stops Train from installing its own
  INFO console handler ("Requesting resources", "Reporting training result ..."), so its
  loggers follow the job's WARNING level.
- Ray Data (local Ray): ``RAY_DATA_LOGGING_CONFIG`` names a copy of Ray Data's default logging
  config whose console handler is at WARNING: "Starting execution", "Execution plan" and
  progress logged by ``logging_progress`` go to ``logs/ray-data/ray-data.log`` only.
  ``RAY_TQDM=0`` and ``DataContext.use_ray_tqdm = False``: a dataset streamed by a worker
  (Train's ingest) logs its progress to that file instead of sending tqdm bars to this console;
  the driver shows tqdm bars only on a terminal. Ray Data reads both when first imported, so a
  driver that has not imported it yet gets them through its environment and is spared the
  import (the physio ingest never imports it).
- Console filters of the driver (``RAY_DEDUP_LOGS_*``, read when Ray is imported, hence set by
  :func:`apply_local_ray_env`): lines starting with a ``[tag]`` are never folded into
  "[repeated Nx across cluster]" (Ray folds lines that differ only in numbers, so trials'
  and ranks' progress lines vanished); two notices of Ray's own housekeeping are dropped: the
  raylet's "N PYTHON worker processes have been started" and the cleaner's "Detected that
  the Ray Train controller actor ... is dead. Cleaning up ..." (one per stopped trial).
- Ray Tune: ``RAY_AIR_NEW_OUTPUT=0``, the classic reporter, silent at ``verbose=0`` (the new
  one prints its experiment table and paths whatever the verbosity).
- ``PYTHONWARNINGS=ignore::DeprecationWarning`` in Ray's processes: Python's default, which Ray
  replaces with "show" for its own deprecation warnings, raised by Ray's internals.

``quiet=False`` keeps Ray's defaults for all of these (dashboard and cleaner as above), e.g.
to debug Ray itself. Joining a cluster, Ray Data's and the preemption watcher's settings stay
the cluster's (the config file exists only on this machine).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

LOOPBACK = "127.0.0.1"
MIN_LOCAL_CPUS = 4

# Set before ``import ray`` anywhere in the process: usage stats off, loopback-only node.
LOCAL_RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "token",
    "RAY_TRAIN_V2_ENABLED": "1",
}

# What the driver prints of its workers' output; read when Ray is imported.
CONSOLE_ENV = {
    "RAY_DEDUP_LOGS_ALLOW_REGEX": r"^\[[A-Za-z][\w .-]*\] ",
    "RAY_DEDUP_LOGS_SKIP_REGEX": (
        r"PYTHON worker processes have been started on node"
        r"|Detected that the Ray Train controller actor \(\w+\) is dead"
        # The GCS logs an error when it kills an actor whose process already exited (Ray
        # Data's and Train's helper actors at the end of a run): nothing for a user to do.
        r"|gcs_actor_scheduler\.cc:\d+: Failed to kill actor"
    ),
    "RAY_AIR_NEW_OUTPUT": "0",
}

# Read in Ray's worker processes, on any node (a cluster job's runtime environment, or the
# environment a local Ray's processes inherit).
QUIET_WORKER_ENV = {
    "RAY_TRAIN_ENABLE_PRINT_PATCH": "0",
    "RAY_TRAIN_ENABLE_CONTROLLER_STRUCTURED_LOGGING": "0",
    "RAY_TRAIN_ENABLE_WORKER_STRUCTURED_LOGGING": "0",
    "PYTHONWARNINGS": "ignore::DeprecationWarning",
}

RAY_DATA_LOGGING_CONFIG_VAR = "RAY_DATA_LOGGING_CONFIG"
RAY_DATA_CONSOLE_LEVEL = "WARNING"
API_SERVER_ADDRESS_VAR = "RAY_API_SERVER_ADDRESS"


def apply_local_ray_env() -> None:
    """Put the loopback/token/no-telemetry and console settings into this process's environment.

    Call it before anything imports Ray: Ray reads the console filters at import.
    """
    for key, value in {**LOCAL_RAY_ENV, **CONSOLE_ENV}.items():
        os.environ.setdefault(key, value)


def init_ray(
    address: str | None = None,
    num_cpus: int | None = None,
    quiet: bool = True,
    dashboard: bool = True,
) -> None:
    """Join ``address`` (or ``RAY_ADDRESS``) if given, else start a loopback-only local Ray.

    ``num_cpus`` is a lower bound for a local Ray (at least ``MIN_LOCAL_CPUS`` logical CPUs).
    ``quiet`` (default) keeps Ray's INFO output off the console (see the module docstring).
    ``dashboard=False`` starts a local Ray without the dashboard and its State API, for jobs
    that run no Ray Train (see the module docstring); a cluster's dashboard is the cluster's.

    Does nothing when Ray is already initialised in this process (e.g. inside ``ray job submit``
    the driver is started with ``RAY_ADDRESS`` set, and tests share one session).
    """
    apply_local_ray_env()
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    local = not address
    # Workers get the loopback settings (and the quiet ones) through the runtime environment
    # of a cluster's job, or the environment a local Ray's processes inherit.
    worker_env = {k: os.environ[k] for k in LOCAL_RAY_ENV}
    init_kwargs: dict = {"logging_level": "INFO"}
    if quiet:
        worker_env.update({k: os.environ.get(k, v) for k, v in QUIET_WORKER_ENV.items()})
        init_kwargs = {
            "logging_level": "WARNING",
            "logging_config": ray.LoggingConfig(log_level="WARNING"),
        }
        _quiet_ray_data_in_driver(local)
    if not local:
        ray.init(address=address, runtime_env={"env_vars": worker_env}, **init_kwargs)
        return
    dashboard_port = _free_loopback_port()
    if dashboard:
        worker_env[API_SERVER_ADDRESS_VAR] = f"http://{LOOPBACK}:{dashboard_port}"
    worker_env["RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"] = os.environ.get(
        "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0"
    )
    if quiet:
        worker_env[RAY_DATA_LOGGING_CONFIG_VAR] = os.environ[RAY_DATA_LOGGING_CONFIG_VAR]
        worker_env["RAY_TQDM"] = os.environ.get("RAY_TQDM", "0")
    # Ray Train workers hold one CPU each; Ray Data needs CPUs of its own to stream the
    # shards to them, or the run waits forever. Logical CPUs may exceed physical cores.
    num_cpus = max(num_cpus or 0, os.cpu_count() or 1, MIN_LOCAL_CPUS)
    # The processes ray.init starts (GCS, raylet, dashboard, and through the raylet every
    # worker, detached actors included) inherit this environment. No job runtime_env here:
    # it would say the same again, and workers of a job with a runtime_env cannot be the ones
    # the raylet prestarts at ray.init (without it), so every first task and actor would
    # wait for a new worker process (~1 s, and the prestarted ones idle for nothing).
    with _environment(worker_env):
        # address="local": always a new local instance, never a cluster some other process
        # on this machine started (plain ray.init() would join it via /tmp/ray).
        ray.init(
            address="local",
            num_cpus=num_cpus,
            _node_ip_address=LOOPBACK,
            include_dashboard=dashboard,
            dashboard_host=LOOPBACK,
            dashboard_port=dashboard_port,
            **init_kwargs,
        )


def _quiet_ray_data_in_driver(local: bool) -> None:
    """Ray Data's console at WARNING in this process; streamed progress to its log file.

    Ray Data reads both settings when it is first imported, so a driver that has not imported
    it yet gets them through the environment and skips the import (~0.7 s of a job's start-up;
    the physio ingest's driver never uses Ray Data). One that has is reconfigured here.
    """
    os.environ.setdefault(RAY_DATA_LOGGING_CONFIG_VAR, _ray_data_logging_config_file())
    if "ray.data" not in sys.modules:
        if local:
            os.environ.setdefault("RAY_TQDM", "0")  # DataContext.use_ray_tqdm's default
        return
    import ray.data
    from ray.data._internal import logging as data_logging

    data_logging.configure_logging()  # Ray Data configured itself when first imported
    if local:
        ray.data.DataContext.get_current().use_ray_tqdm = False


def _ray_data_logging_config_file() -> str:
    """A file holding Ray Data's default logging config, its console handler at WARNING.

    Named after Ray's version, so that a later job finds it without importing Ray Data.
    """
    import ray

    path = Path(tempfile.gettempdir()) / (
        f"crossmodal_ray_data_logging_{ray.__version__}_{RAY_DATA_CONSOLE_LEVEL.lower()}.json"
    )
    if path.exists():
        return str(path)
    from ray.data._internal import logging as data_logging

    config = copy.deepcopy(data_logging.DEFAULT_CONFIG)
    config["handlers"]["console"]["level"] = RAY_DATA_CONSOLE_LEVEL
    text = json.dumps(config, indent=1, sort_keys=True)  # JSON is YAML, which Ray Data reads
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    partial.write_text(text)
    partial.replace(path)  # atomic: jobs starting side by side may both write it
    return str(path)


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` for the duration of the block, then restore it."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
