"""The generic Ray Train loop: global negative pool across 2 workers, resume after a killed
worker, and resubmitting a finished run."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from regression_task import FEATURES, RegressionTask
from torch import nn
from worker_kill import run_and_kill_rank1

from crossmodal_ray.models.losses.distributed import gather_with_grad, get_rank
from crossmodal_ray.models.losses.info_nce import info_nce
from crossmodal_ray.models.losses.multi_group_contrastive import MultiGroupContrastiveLoss
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.trainer import run_training


class TwoViewEncoder(nn.Module):
    """Two linear 'groups' over one input: enough to exercise the contrastive pool."""

    def __init__(self) -> None:
        super().__init__()
        self.view_a = nn.Linear(FEATURES, 4)
        self.view_b = nn.Linear(FEATURES, 4)
        self.loss = MultiGroupContrastiveLoss(temperature=0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.view_a(x), self.view_b(x)])  # G x B x E


@dataclass
class RecordingContrastiveTask:
    """Writes, per rank and step, the local and gathered row ids and the loss terms."""

    record_dir: str
    name: str = "pool_probe"
    columns: tuple[str, ...] = ("x", "row_id")

    def build_model(self) -> nn.Module:
        torch.manual_seed(0)
        return TwoViewEncoder()

    def collate(self, batch):
        return {
            "x": torch.as_tensor(batch["x"]).float(),
            "row_id": torch.as_tensor(batch["row_id"]),
        }

    def training_loss(self, model, batch):
        module = model.module if hasattr(model, "module") else model
        z = model(batch["x"])
        loss = module.loss(z)["loss"]
        gathered_ids = gather_with_grad(batch["row_id"].double()).long()
        with torch.no_grad():
            gathered_z = gather_with_grad(z.transpose(0, 1).detach()).transpose(0, 1)
            full_batch_loss = info_nce(gathered_z[0], gathered_z[1], 0.5)
        record = {
            "local_ids": batch["row_id"].tolist(),
            "gathered_ids": gathered_ids.tolist(),
            "local_loss": float(loss),
            "full_batch_loss": float(full_batch_loss),
        }
        path = Path(self.record_dir) / f"rank{get_rank()}.jsonl"
        with open(path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        return loss, {}

    def checkpoint_extras(self):
        return {}


def make_rows(ray, n: int):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    return ray.data.from_items([{"x": x[i], "row_id": i} for i in range(n)])


def test_two_worker_pool_is_the_global_batch(ray_session, tmp_path):
    record_dir = tmp_path / "records"
    record_dir.mkdir()
    loop = TrainLoopConfig(
        run_name="pool",
        storage_path=str(tmp_path / "runs"),
        num_workers=2,
        epochs=1,
        batch_size_per_worker=8,
        checkpoint_every_steps=1000,
        log_every_steps=1,
        shuffle_buffer_rows=0,
        max_failures=0,
    )
    result = run_training(
        RecordingContrastiveTask(str(record_dir)), loop, make_rows(ray_session, 64)
    )
    assert result.error is None
    ranks = [
        [json.loads(line) for line in (record_dir / f"rank{r}.jsonl").read_text().splitlines()]
        for r in range(2)
    ]
    assert len(ranks[0]) == len(ranks[1]) == 4  # 64 rows / (2 workers x 8) = same steps on both
    seen = []
    for step0, step1 in zip(*ranks, strict=True):
        # The negatives of each rank are exactly the union of both local batches, rank order.
        expected = step0["local_ids"] + step1["local_ids"]
        assert step0["gathered_ids"] == expected
        assert step1["gathered_ids"] == expected
        assert len(set(expected)) == 16
        # Local rows vs global columns, averaged over ranks = the full-batch loss.
        mean_local = (step0["local_loss"] + step1["local_loss"]) / 2
        assert mean_local == pytest.approx(step0["full_batch_loss"], rel=1e-5)
        seen += expected
    assert sorted(seen) == list(range(64))


@pytest.mark.slow
def test_killed_worker_resumes_from_checkpoint_and_finishes(ray_session, tmp_path):
    pid_dir = tmp_path / "pids"
    loop = TrainLoopConfig(
        run_name="killed",
        storage_path=str(tmp_path / "runs"),
        num_workers=2,
        epochs=3,
        batch_size_per_worker=16,
        checkpoint_every_steps=4,
        log_every_steps=4,
        max_failures=2,
        fault_injection_pid_dir=str(pid_dir),
        fault_injection_step_sleep_s=0.25,
    )
    rows = 384  # 6 blocks of 64, 3 per rank: 12 steps per epoch, 36 in all
    # Killed once the controller has registered a checkpoint (its snapshot names it).
    result = run_and_kill_rank1(
        lambda: run_training(RegressionTask(), loop, make_rows(ray_session, rows)),
        tmp_path / "runs" / "killed",
        pid_dir,
    )
    assert result.error is None
    assert result.metrics["global_step"] == 36
    # Restarted workers loaded the last checkpoint instead of starting over.
    assert result.metrics["resumed_from_step"] >= 4
    assert len((pid_dir / "rank1.pid").read_text().split()) == 2  # rank 1 ran twice

    # Submitting the same run again resumes from its final checkpoint: no step is repeated.
    again = run_training(RegressionTask(), loop, make_rows(ray_session, rows))
    assert again.error is None
    assert again.metrics["resumed_from_step"] == 36
    assert again.metrics["global_step"] == 36


def _train_worker_pids() -> set[int]:
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"ray::RayTrainWorker"):
                pids.add(int(entry))
    return pids


@pytest.mark.slow
def test_training_workers_listen_on_loopback_only(ray_session, tmp_path):
    """DDP rendezvous and gloo stay on 127.0.0.1 (``training/loopback_torch_backend.py``)."""
    from ray_cluster_helpers import is_loopback, listening_addresses_of

    seen: set[str] = set()
    done = threading.Event()

    def sample_sockets() -> None:
        while not done.is_set():
            seen.update(listening_addresses_of(_train_worker_pids()))
            time.sleep(0.3)

    watcher = threading.Thread(target=sample_sockets, daemon=True)
    watcher.start()
    loop = TrainLoopConfig(
        run_name="loopback",
        storage_path=str(tmp_path / "runs"),
        num_workers=2,
        epochs=2,
        batch_size_per_worker=16,
        checkpoint_every_steps=1000,
        max_failures=0,
        fault_injection_step_sleep_s=0.1,
    )
    result = run_training(RegressionTask(), loop, make_rows(ray_session, 320))
    done.set()
    watcher.join()
    assert result.error is None
    assert seen, "saw no listening socket of a training worker (gloo always listens)"
    assert all(is_loopback(address) for address in seen), seen
