"""MBSL as a :class:`~crossmodal_ray.training.task.TrainingTask`: pretraining and fine-tuning.

Pretraining (``MBSLPretrainTask``): one encoder per channel group, multi-scale masked patch
views, symmetric InfoNCE between every pair of groups with the negatives of the global batch
(``models.losses.MultiGroupContrastiveLoss``). Fine-tuning (``MBSLFinetuneTask``): the
pretrained encoder plus heart-rate, respiration-rate, activity and apnea heads trained end to
end on the labelled training windows.

The tasks carry everything a worker needs (model config, grouping, pretrained weights) so they
work the same on a laptop and on a cluster whose workers never see the driver's disk. Both are
validated after every epoch on the validation subjects, and evaluation loads the best epoch:
pretraining by ``val_rr_mae_bpm`` (a ridge probe of the frozen encoder,
:mod:`crossmodal_ray.training.tasks.mbsl_validation`), fine-tuning by ``val_loss`` (the four
heads' loss on the validation windows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from crossmodal_ray.models.mbsl.heads import MBSLDownstream, downstream_loss
from crossmodal_ray.models.mbsl.model import MBSLConfig, MBSLEncoder, MBSLPretrainModel
from crossmodal_ray.training.tasks.mbsl_validation import (
    PROBE_TRAIN_DATASET,
    VAL_DATASET,
    finetune_validation_metrics,
    mbsl_validation_metrics,
)
from crossmodal_ray.training.window_keys import window_key_tensors, window_keys_of

SIGNAL_COLUMNS = ("signals", "channel_present")
# What the loss needs to keep an anchor's own sample and overlapping windows out of its negatives.
KEY_COLUMNS = ("sample_id", "source", "start_s")
LABEL_COLUMNS = ("hr_bpm", "rr_bpm", "activity", "apnea")
LABEL_DTYPES = {"hr_bpm": np.float32, "rr_bpm": np.float32, "activity": np.int64, "apnea": np.int64}


def _tensor(values: np.ndarray, dtype: np.dtype) -> torch.Tensor:
    # Ray Data hands read-only arrays; a copy gives torch memory it may own and write.
    return torch.from_numpy(np.array(values, dtype=dtype, copy=True))


def collate_signals(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """``signals`` float32 [B, C, T] and ``channel_present`` bool [B, C] (CPU tensors)."""
    return {
        "signals": _tensor(batch["signals"], np.float32),
        "channel_present": _tensor(batch["channel_present"], np.bool_),
    }


@dataclass
class MBSLPretrainTask:
    """Cross-modal contrastive pretraining of the MBSL encoder."""

    model_config: dict[str, Any]
    grouping: dict[str, Any]
    name: str = "mbsl"
    columns: tuple[str, ...] = SIGNAL_COLUMNS + KEY_COLUMNS
    validation_metric: str = "val_rr_mae_bpm"
    validation_mode: str = "min"
    validation_datasets: tuple[str, ...] = (PROBE_TRAIN_DATASET, VAL_DATASET)

    @property
    def ddp_broadcast_buffers(self) -> bool:
        # The cross-modal queue is filled from gathered embeddings: identical on every rank,
        # so broadcasting it (64 MB per step at K=65,536) would only cost time.
        return not self.model_config.get("queue_size", 0)

    def build_model(self) -> nn.Module:
        return MBSLPretrainModel(MBSLConfig.from_dict(self.model_config))

    def collate(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {**collate_signals(batch), **window_key_tensors(batch)}

    def training_loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        outputs = model(batch["signals"], batch["channel_present"], window_keys_of(batch))
        metrics = {
            key: float(value.detach().float().mean())
            for key, value in outputs.items()
            if key != "loss" and isinstance(value, torch.Tensor) and value.numel() == 1
        }
        return outputs["loss"], metrics

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"model_config": self.model_config, "grouping": self.grouping}

    def validation_metrics(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """``val_rr_mae_bpm``, ``val_hr_mae_bpm``: linear probes of the frozen encoder, fitted
        on a fixed subset of training windows, measured on the validation split (rank 0 only;
        ``{}`` without the ``probe_train``/``val`` datasets), see :mod:`training.tasks.mbsl_validation`.
        """
        return mbsl_validation_metrics(model, device)


@dataclass
class MBSLFinetuneTask:
    """End-to-end fine-tuning of the pretrained encoder with the four downstream heads.

    Attributes:
        target_stats: ``{"hr_bpm": (mean, std), "rr_bpm": (mean, std)}`` of the training split
            (regression targets are standardised with them).
        encoder_state: pretrained encoder weights (None = train from scratch).
    """

    model_config: dict[str, Any]
    grouping: dict[str, Any]
    n_activities: int
    target_stats: dict[str, tuple[float, float]]
    encoder_state: dict[str, torch.Tensor] | None = None
    name: str = "mbsl_finetune"
    columns: tuple[str, ...] = SIGNAL_COLUMNS + LABEL_COLUMNS
    validation_metric: str = "val_loss"
    validation_mode: str = "min"
    validation_datasets: tuple[str, ...] = (VAL_DATASET,)
    # ``features()`` never masks, so the encoders' mask tokens get no gradient here.
    ddp_find_unused_parameters: bool = True
    loss_weights: dict[str, float] = field(default_factory=dict)

    def build_model(self) -> nn.Module:
        encoder = MBSLEncoder(MBSLConfig.from_dict(self.model_config))
        if self.encoder_state is not None:
            encoder.load_state_dict(self.encoder_state)
        return MBSLDownstream(encoder, self.n_activities)

    def collate(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        tensors = collate_signals(batch)
        for name, dtype in LABEL_DTYPES.items():
            tensors[name] = _tensor(batch[name], dtype)
        return tensors

    def training_loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        outputs = model(batch["signals"], batch["channel_present"])
        targets = {key: batch[key] for key in LABEL_COLUMNS}
        result = downstream_loss(outputs, targets, self.target_stats, self.loss_weights)
        metrics = {
            f"{key}_loss": float(value.float())
            for key, value in result["terms"].items()
            if not key.startswith("n_")
        }
        return result["loss"], metrics

    def checkpoint_extras(self) -> dict[str, Any]:
        return {
            "model_config": self.model_config,
            "grouping": self.grouping,
            "n_activities": self.n_activities,
            "target_stats": self.target_stats,
        }

    def validation_metrics(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """``val_loss`` (the training loss of the four heads) and per-head MAE/accuracy on the
        validation split (rank 0)."""
        return finetune_validation_metrics(model, device, self.target_stats, self.loss_weights)
