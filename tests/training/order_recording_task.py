"""A training task that records, per rank and step, the rows it trained on and a torch draw.

Shared by the data-order and resume tests (workers unpickle it by module name). Each line of
``rank<r>.jsonl``: process id, epoch of the row ids' records, the step's local row ids and one
``torch.rand`` draw made inside the step (equal in a resumed run only when the generators were
restored). ``fail_once_at_call`` makes rank 0 raise once, at its N-th step of the first
attempt (a marker file keeps the resubmitted run from failing again).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from crossmodal_ray.models.losses.distributed import get_rank

FEATURES = 4


class TinyRegressor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(FEATURES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze(-1)


@dataclass
class OrderRecordingTask:
    record_dir: str
    fail_once_at_call: int = 0
    name: str = "order_probe"
    columns: tuple[str, ...] = ("x", "row_id", "record")

    def build_model(self) -> nn.Module:
        torch.manual_seed(0)
        return TinyRegressor()

    def collate(self, batch):
        return {
            "x": torch.as_tensor(np.stack(batch["x"])).float(),
            "row_id": torch.as_tensor(batch["row_id"]),
            "record": torch.as_tensor(batch["record"]),
        }

    def training_loss(self, model, batch):
        rank = get_rank()
        path = Path(self.record_dir) / f"rank{rank}.jsonl"
        calls = sum(1 for _ in open(path)) if path.exists() else 0
        marker = Path(self.record_dir) / "failed_once"
        if rank == 0 and self.fail_once_at_call and calls + 1 == self.fail_once_at_call:
            if not marker.exists():
                marker.touch()
                raise RuntimeError("injected failure (fail_once_at_call)")
        draw = float(torch.rand(1))
        line = {
            "pid": os.getpid(),
            "row_ids": batch["row_id"].tolist(),
            "records": sorted(set(batch["record"].tolist())),
            "draw": draw,
        }
        with open(path, "a") as handle:
            handle.write(json.dumps(line) + "\n")
        prediction = model(batch["x"])
        loss = ((prediction - batch["x"].sum(-1)) ** 2).mean()
        return loss, {}

    def checkpoint_extras(self):
        return {}


def corpus_rows(records: int, windows: int) -> list[dict]:
    """A single-file-like corpus: each record's windows consecutive, as ingest writes them."""
    rng = np.random.default_rng(0)
    return [
        {
            "x": rng.normal(size=FEATURES).astype(np.float32),
            "row_id": r * windows + w,
            "record": r,
        }
        for r in range(records)
        for w in range(windows)
    ]


def read_records(record_dir: Path, rank: int) -> list[dict]:
    path = record_dir / f"rank{rank}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]
