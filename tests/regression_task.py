"""A small supervised training task (predict the sum of the features) for loop and sweep tests."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

FEATURES = 6


@dataclass
class RegressionTask:
    """Linear regression of ``x.sum()`` from ``x`` [FEATURES], a ``TrainingTask``."""

    name: str = "regression"
    columns: tuple[str, ...] = ("x", "row_id")

    def build_model(self) -> nn.Module:
        return nn.Linear(FEATURES, 1)

    def collate(self, batch):
        return {"x": torch.tensor(batch["x"], dtype=torch.float32)}

    def training_loss(self, model, batch):
        target = batch["x"].sum(dim=1, keepdim=True)
        return ((model(batch["x"]) - target) ** 2).mean(), {}

    def checkpoint_extras(self):
        return {"note": "regression"}
