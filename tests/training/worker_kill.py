"""Kill a training worker mid-run, once Ray Train has registered a checkpoint to resume from
(shared by the loop and data-order tests; workers write their pids via
``TrainLoopConfig.fault_injection_pid_dir``)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def wait_for_registered_checkpoint(run_dir: Path, timeout_s: float) -> None:
    """Until the controller's snapshot names a checkpoint: a checkpoint folder on disk is not
    yet a checkpoint Ray Train resumes from."""
    snapshot = run_dir / "checkpoint_manager_snapshot.json"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if snapshot.exists() and "checkpoint_step" in snapshot.read_text():
            return
        time.sleep(0.1)
    raise TimeoutError(f"no checkpoint registered in {run_dir} after {timeout_s} s")


def run_and_kill_rank1(run: Callable[[], Any], run_dir: Path, pid_dir: Path) -> Any:
    """Start ``run`` (a training run) in a thread, SIGKILL rank 1's process after the first
    registered checkpoint, and return the run's result once it has finished."""
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("result", run()))
    thread.start()
    wait_for_registered_checkpoint(run_dir, timeout_s=180)
    os.kill(int((pid_dir / "rank1.pid").read_text().split()[0]), signal.SIGKILL)
    thread.join(timeout=300)
    assert not thread.is_alive(), "the run did not finish after the kill"
    return outcome["result"]
