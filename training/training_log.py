"""Progress lines and TensorBoard scalars of the training loop (nanoGPT-style log line).

One line per interval on rank 0::

    [mbsl] epoch 1 step 40/120 loss 3.1416 lr 9.5e-04 samples/s 812 data_wait 3%

``samples/s`` counts the global batch (all workers); ``data_wait`` is the share of wall time
this worker spent waiting for the next batch from Ray Data (high values mean the input
pipeline, not the model, limits speed). With several optimisers the line shows each one's
learning rate (``lr main 9.5e-04 similarity 1.0e-04``).

TensorBoard event files go to ``<storage>/<run>/tensorboard``; on an object store (``s3://``,
``gs://``) rank 0 writes them to a local folder and uploads it at most once a minute and at
the end.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.training.loop_config import TrainLoopConfig

UPLOAD_EVERY_S = 60.0


def tensorboard_location(loop: TrainLoopConfig) -> str:
    """``<storage>/<run>/tensorboard`` (a path or a URI)."""
    return storage.join(loop.storage_path, loop.run_name, "tensorboard")


class TrainingLog:
    """Interval statistics, printed log lines and TensorBoard scalars for one worker."""

    def __init__(self, task_name: str, loop: TrainLoopConfig, rank: int, world_size: int):
        self.task_name, self.loop, self.rank, self.world_size = task_name, loop, rank, world_size
        self._run_start = time.perf_counter()
        self._interval_start = self._run_start
        self._wait_started: float | None = None
        self._interval_wait = 0.0
        self._interval_losses: list[float] = []
        self._interval_metrics: dict[str, list[float]] = {}
        self._interval_samples = 0
        self._run_samples = 0
        self._run_wait = 0.0
        self._writer = None
        self._upload_to: str | None = None
        self._last_upload = time.monotonic()
        if rank == 0:
            from torch.utils.tensorboard import SummaryWriter

            location = tensorboard_location(loop)
            if storage.is_uri(location):
                self._upload_to = location
                log_dir = tempfile.mkdtemp(prefix="crossmodal-tensorboard-")
            else:
                log_dir = location
            self._writer = SummaryWriter(log_dir=log_dir)

    def print(self, message: str) -> None:
        print(f"[{self.task_name}] {message}", flush=True)

    def print_on_rank0(self, message: str) -> None:
        if self.rank == 0:
            self.print(message)

    def start_waiting(self) -> None:
        self._wait_started = time.perf_counter()

    def stop_waiting(self) -> None:
        if self._wait_started is not None:
            waited = time.perf_counter() - self._wait_started
            self._interval_wait += waited
            self._run_wait += waited
            self._wait_started = None

    def exclude(self, seconds: float) -> None:
        """Leave ``seconds`` (validation, checkpoint upload) out of the throughput figures."""
        self._run_start += seconds
        self._interval_start += seconds

    def step_done(self, loss: float, metrics: dict[str, float], local_batch: int) -> None:
        self._interval_losses.append(loss)
        for key, value in metrics.items():
            self._interval_metrics.setdefault(key, []).append(float(value))
        samples = local_batch * self.world_size
        self._interval_samples += samples
        self._run_samples += samples

    def interval_summary(self) -> dict[str, float]:
        """Mean loss and throughput since the last call; resets the interval."""
        now = time.perf_counter()
        elapsed = max(1e-9, now - self._interval_start)
        summary = {
            "loss": sum(self._interval_losses) / max(1, len(self._interval_losses)),
            "samples_per_s": self._interval_samples / elapsed,
            "data_wait_fraction": self._interval_wait / elapsed,
        }
        for key, values in self._interval_metrics.items():
            summary[key] = sum(values) / len(values)
        self._interval_start, self._interval_wait = now, 0.0
        self._interval_losses, self._interval_metrics, self._interval_samples = [], {}, 0
        return summary

    def write_line(
        self, state: dict[str, Any], interval: dict[str, float], learning_rates: dict[str, float]
    ) -> None:
        if self.rank != 0:
            return
        self.last_interval = interval
        total = self.loop.total_steps
        if len(learning_rates) == 1:
            lr_text = f"lr {next(iter(learning_rates.values())):.2e}"
        else:
            lr_text = "lr " + " ".join(f"{name} {lr:.2e}" for name, lr in learning_rates.items())
        self.print(
            f"epoch {state['epoch'] + 1} step {state['global_step']}/{total} "
            f"loss {interval['loss']:.4f} {lr_text} "
            f"samples/s {interval['samples_per_s']:.0f} "
            f"data_wait {100 * interval['data_wait_fraction']:.0f}%"
        )
        if self._writer is not None:
            step = state["global_step"]
            for key, value in interval.items():
                self._writer.add_scalar(f"train/{key}", value, step)
            for name, lr in learning_rates.items():
                self._writer.add_scalar(
                    "train/lr" if name == "main" else f"train/lr_{name}", lr, step
                )
            self._writer.flush()
            if self._upload_to and time.monotonic() - self._last_upload > UPLOAD_EVERY_S:
                self._upload()

    def _upload(self) -> None:
        storage.upload_dir(self._writer.log_dir, self._upload_to)
        self._last_upload = time.monotonic()

    def run_summary(self) -> dict[str, float]:
        """Throughput and loss figures of this session so far (reported with checkpoints)."""
        elapsed = max(1e-9, time.perf_counter() - self._run_start)
        summary = {
            "samples_per_s": self._run_samples / elapsed,
            "data_wait_fraction": self._run_wait / elapsed,
            "train_seconds": elapsed,
        }
        last = getattr(self, "last_interval", None)
        if last:
            summary["loss"] = last["loss"]
        elif self._interval_losses:
            summary["loss"] = sum(self._interval_losses) / len(self._interval_losses)
        else:
            summary["loss"] = float("nan")
        return summary

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            if self._upload_to:
                self._upload()
