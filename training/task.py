"""The contract between the generic Ray Train loop and one system (MBSL, grounding, COOLANT, ASD).

A task is a small picklable object (it travels to every worker). The loop
(:func:`crossmodal_ray.training.loop.train_fn_per_worker`) asks it for:

- ``columns``: the shard columns the training blocks hold
  (:mod:`crossmodal_ray.training.training_blocks`);
- ``collate(batch)``: turns a batch of rows (dict of numpy arrays, as Ray Data's
  ``iter_batches`` gives them: strings as object arrays, variable-length items as arrays of
  arrays) into tensors. It runs in the worker's data thread
  (:mod:`crossmodal_ray.training.block_batches`), so tokenizing text, decoding or stacking
  images and padding happen off the training step. The loop moves the returned tensors to the
  device;
- ``build_model()``, ``training_loss(model, batch) -> (loss, metrics)``, ``checkpoint_extras()``
  (JSON state saved in every checkpoint so that evaluation and resume rebuild the model).

Optional members (a plain MBSL-style task needs none of them):

- ``optimizers(model, loop) -> list[OptimizerSpec]``: parameter groups with their own learning
  rates, frozen modules left out, extra optimisers with schedules of their own
  (:mod:`crossmodal_ray.training.optimizers`); default: one AdamW over all trainable parameters;
- ``validation_metric`` (e.g. ``"val_rr_mae_bpm"``), ``validation_mode`` (``"min"``/``"max"``)
  and ``validation_datasets`` (names of the extra datasets it reads, e.g. ``("val",)``) with
  ``validation_metrics(model, device) -> dict``: run by the loop after every epoch on every
  rank (model unwrapped, eval mode, no grad); rank 0's result is broadcast, reported with the
  epoch's checkpoint, and Ray Train keeps the checkpoints ranked by ``validation_metric``
  (``CheckpointConfig(checkpoint_score_attribute=...)``): evaluation loads the best one, not the
  last (:func:`crossmodal_ray.training.trainer.best_checkpoint`). Mid-epoch checkpoints, which
  resume needs, carry the worst finite value for it
  (:func:`crossmodal_ray.training.loop.not_validated_score`) and so never rank as best;
- ``ddp_find_unused_parameters`` (some parameters get no gradient from the loss) and
  ``ddp_broadcast_buffers`` (False when buffers are identical on every rank by construction).

Uneven data across ranks never hangs a collective: every rank reads the same number of training
blocks per epoch and stops after the same number of full batches
(:mod:`crossmodal_ray.training.epoch_order`), so every rank runs the same number of steps and
enters the same all-reduces, all-gathers and reports. Variable shapes inside a batch are the collate's business
(pad to the longest item); the contrastive losses gather fixed-size embeddings, so batches of
different padded lengths on different ranks are fine.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from torch import nn


class TrainingTask(Protocol):
    """What a system implements to be trained by the generic loop (see the module docstring)."""

    name: str
    columns: tuple[str, ...]

    def build_model(self) -> nn.Module:
        """A fresh model (the loop moves it to the device and wraps it in DDP)."""
        ...

    def collate(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Tensors (on the CPU) of one batch of rows; runs in the worker's data thread."""
        ...

    def training_loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss to minimise and scalar metrics to log for one local batch."""
        ...

    def checkpoint_extras(self) -> dict[str, Any]:
        """JSON-serialisable state saved with every checkpoint (e.g. the channel grouping)."""
        ...


def validation_metric_of(task: Any) -> tuple[str, str] | None:
    """``(metric, mode)`` that ranks the task's checkpoints, or None without validation."""
    metric = getattr(task, "validation_metric", None)
    if not metric:
        return None
    mode = getattr(task, "validation_mode", "min")
    if mode not in ("min", "max"):
        raise ValueError(f"task {task.name}: validation_mode must be 'min' or 'max', not {mode!r}")
    return metric, mode


def to_device(value: Any, device: torch.device) -> Any:
    """Tensors in (nested dicts, lists, tuples of) ``value`` moved to ``device``."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_device(v, device) for v in value)
    return value
