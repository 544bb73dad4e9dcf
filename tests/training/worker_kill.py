"""Kill a training worker mid-run, once Ray Train has registered a checkpoint to resume from
(shared by the loop, data-order and system-job fault tests; workers write their pids via
``TrainLoopConfig.fault_injection_pid_dir``).

Jobs expose no flag for the test-only loop settings (``fault_injection_*``):
:func:`fault_injected_runs` gives them to every run a job starts through
``training.trainer.run_training`` (each run's pids under ``<pid root>/<run name>``).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def wait_for_registered_checkpoint(
    run_dir: Path, timeout_s: float, running: Callable[[], bool] = lambda: True
) -> None:
    """Until the controller's snapshot names a checkpoint: a checkpoint folder on disk is not
    yet a checkpoint Ray Train resumes from. Gives up when ``running()`` turns false (the run
    or its driver ended first)."""
    snapshot = run_dir / "checkpoint_manager_snapshot.json"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if snapshot.exists() and "checkpoint_step" in snapshot.read_text():
            return
        if not running():
            raise RuntimeError(f"the run ended before a checkpoint was registered in {run_dir}")
        time.sleep(0.1)
    raise TimeoutError(f"no checkpoint registered in {run_dir} after {timeout_s} s")


def run_and_kill_rank1(
    run: Callable[[], Any], run_dir: Path, pid_dir: Path, timeout_s: float = 180
) -> Any:
    """Start ``run`` (a training run, or a job that starts one) in a thread, SIGKILL rank 1's
    process after the first registered checkpoint of ``run_dir``, and return the run's result
    once it has finished (re-raising its error)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = run()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    try:
        wait_for_registered_checkpoint(run_dir, timeout_s, running=thread.is_alive)
    except (TimeoutError, RuntimeError):
        thread.join(timeout=1)
        if "error" in outcome:
            raise outcome["error"] from None
        raise
    # The last pid rank 1 wrote: its current process.
    os.kill(int((pid_dir / "rank1.pid").read_text().split()[-1]), signal.SIGKILL)
    thread.join(timeout=300 + timeout_s)
    assert not thread.is_alive(), "the run did not finish after the kill"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


@contextmanager
def fault_injected_runs(pid_root: Path | None, step_sleep_s: float) -> Iterator[None]:
    """While active, every run started through ``training.trainer.run_training`` (the one
    entry point of every system's job) writes its workers' pids under ``pid_root/<run name>``
    (when given) and sleeps ``step_sleep_s`` after each step, so that a kill lands mid-run."""
    from crossmodal_ray.training.ray_runtime import apply_local_ray_env

    apply_local_ray_env()  # before Ray is imported (a job's driver process)
    from crossmodal_ray.training import trainer

    original = trainer.run_training

    def run_training(task, loop, *args, **kwargs):
        loop = dataclasses.replace(
            loop,
            fault_injection_pid_dir=str(pid_root / loop.run_name) if pid_root else "",
            fault_injection_step_sleep_s=step_sleep_s,
        )
        return original(task, loop, *args, **kwargs)

    trainer.run_training = run_training
    try:
        yield
    finally:
        trainer.run_training = original
