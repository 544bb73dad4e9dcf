"""The contract between the generic Ray Train loop and one system (MBSL, grounding, COOLANT, ASD).

A task is a small picklable object: the loop builds the model through it, turns a streamed
batch into tensors through it, asks it for the loss, and stores its extra state (for MBSL: the
channel grouping and the model config) inside every checkpoint so that evaluation and resume
rebuild exactly the trained model.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn


class TrainingTask(Protocol):
    """What a system implements to be trained by :func:`training.loop.train_fn_per_worker`."""

    name: str
    # Columns of the shard the loop streams (strings are not tensors: leave them out).
    columns: tuple[str, ...]
    # Optional: True when some parameters get no gradient from ``training_loss`` (DDP must know).
    # ddp_find_unused_parameters: bool
    # Optional: False when buffers are identical on every rank (skips DDP's buffer broadcast).
    # ddp_broadcast_buffers: bool

    def build_model(self) -> nn.Module:
        """A fresh model (the loop moves it to the device and wraps it in DDP)."""
        ...

    def batch_to_tensors(
        self, batch: dict[str, Any], device: torch.device
    ) -> dict[str, torch.Tensor]:
        """Convert one streamed batch (dict of numpy arrays or tensors) to device tensors."""
        ...

    def training_loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss to minimise and scalar metrics to log for one local batch."""
        ...

    # Optional: ``validation_metrics(model, device) -> dict[str, float]``, called on every rank
    # at the end of each epoch (model unwrapped, eval mode, no grad); the loop reports the
    # result with an epoch checkpoint. Ray Tune's schedulers compare these metrics.

    def checkpoint_extras(self) -> dict[str, Any]:
        """JSON-serialisable state saved with every checkpoint (e.g. the channel grouping)."""
        ...
