"""SyncTalkNet as a task of the generic training loop (Wuerkaixi et al., MLSP 2022; TalkNet, Tao
et al., ACM MM 2021).

Rows (``pipelines/av``): one face-track segment each (grayscale crops, MFCC at 100 Hz, per-frame
labels). The collate pads a batch to its longest segment and masks the rest
(:mod:`.synctalknet_collate`); the model returns CE(AV) + 0.4 CE(audio) + 0.4 CE(visual) plus
the track-exchange term (:class:`~crossmodal_ray.models.synctalknet.model.SyncTalkNet`).

Each epoch is validated on the ``val`` dataset (frame ROC-AUC of the AV head on the clean
segments, and on a desynchronised copy for information) and the checkpoints are ranked by
``val_auc``: the model is chosen on clean validation data only, never on the desynchronised
copy and never on test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from crossmodal_ray.models.synctalknet.config import SyncTalkNetConfig
from crossmodal_ray.models.synctalknet.model import SyncTalkNet
from crossmodal_ray.training.tasks.synctalknet_collate import AV_COLUMNS, collate_segments
from crossmodal_ray.training.tasks.synctalknet_evaluation import read_segments, sync_metrics
from crossmodal_ray.training.validation_rows import rank_zero_validation_batches

VAL_DATASET = "val"
LOSS_TERMS = ("av_loss", "audio_loss", "visual_loss", "exchange_loss", "exchange_pairs")


@dataclass
class SyncTalkNetTask:
    """SyncTalkNet or one of its ablations (``model_config``); see the module docstring.

    Attributes:
        model_config: :class:`SyncTalkNetConfig` as a dict.
        silence_mfcc: The MFCC row of silence under the ingest's settings (the ``silence``
            corruption of the desynchronised copy).
        desync_p: Share of speaking validation segments corrupted in the desynchronised copy.
    """

    model_config: dict[str, Any]
    silence_mfcc: list[float]
    desync_p: float = 0.5
    name: str = "synctalknet"
    columns: tuple[str, ...] = AV_COLUMNS
    validation_metric: str = "val_auc"
    validation_mode: str = "max"
    validation_datasets: tuple[str, ...] = (VAL_DATASET,)
    corpus_id: str = ""

    @property
    def config(self) -> SyncTalkNetConfig:
        return SyncTalkNetConfig.from_dict(self.model_config)

    def build_model(self) -> nn.Module:
        return SyncTalkNet(self.config)

    def collate(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return collate_segments(batch)

    def training_loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        out = model(batch["visual"], batch["audio"], batch["mask"], batch["labels"])
        return out["loss"], {k: float(out[k]) for k in LOSS_TERMS if k in out}

    def validation_metrics(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Clean and desynchronised frame metrics on the whole ``val`` dataset (rank 0)."""
        rows = rank_zero_validation_batches(VAL_DATASET, 16)
        if rows is None:
            return {}
        segments = read_segments(rows)
        metrics = sync_metrics(
            model, segments, device, np.asarray(self.silence_mfcc, np.float32), self.desync_p
        )
        return {
            "val_auc": metrics["clean"]["auc"],
            "val_ap": metrics["clean"]["ap"],
            "val_accuracy": metrics["clean"]["accuracy"],
            "val_desync_auc": metrics["desync"]["auc"],
        }

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"model_config": self.model_config, "corpus_id": self.corpus_id}
