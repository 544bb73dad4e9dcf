"""VG-BERT stage 1 as a task of the generic training loop: word-region contrastive alignment.

The loop streams shard rows (``image``, ``captions``) through :func:`collate_pairs` (one
caption per image per step), the model returns eq. 2 over the global pool of every worker,
and each epoch is validated by image-text retrieval on the ``val`` dataset (``val_r_mean``:
the mean of R@1/5/10 in both directions; higher is better), which ranks the checkpoints.

Learning rates (the paper trains the new visual layers faster than the pretrained BERT): the
language stream's trainable layers at ``text_lr_scale`` (0.1) times the loop's rate, the rest
at 1x; frozen parameters are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from crossmodal_ray.models.vgbert.config import VGBERTConfig
from crossmodal_ray.models.vgbert.model import VGBERTModel
from crossmodal_ray.training.optimizers import OptimizerSpec, ParamGroup
from crossmodal_ray.training.tasks.vgbert_collate import collate_pairs
from crossmodal_ray.training.tasks.vgbert_retrieval import retrieval_metrics
from crossmodal_ray.training.validation_rows import rank_zero_validation_batches

VAL_DATASET = "val"
PAIR_COLUMNS = ("sample_id", "image", "captions")


@dataclass
class VGBERTTask:
    """Stage 1 of VG-BERT (see the module docstring); ``model_config``: a VGBERTConfig dict."""

    model_config: dict[str, Any]
    text_lr_scale: float = 0.1
    name: str = "vgbert"
    columns: tuple[str, ...] = PAIR_COLUMNS
    validation_metric: str = "val_r_mean"
    validation_mode: str = "max"
    validation_datasets: tuple[str, ...] = (VAL_DATASET,)

    @property
    def config(self) -> VGBERTConfig:
        return VGBERTConfig.from_dict(self.model_config)

    def build_model(self) -> nn.Module:
        return VGBERTModel(self.config)

    def collate(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        config = self.config
        return collate_pairs(
            batch, config.resolved_text_model(), config.image_size, config.max_words
        )

    def training_loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        out = model(
            batch["images"], batch["input_ids"], batch["attention_mask"], batch["word_mask"]
        )
        return out["loss"], {}

    def optimizers(self, model: VGBERTModel, loop: Any) -> list[OptimizerSpec]:
        text = list(model.language.parameters())
        text_ids = {id(p) for p in text}
        rest = [p for p in model.parameters() if id(p) not in text_ids]
        return [
            OptimizerSpec("main", [ParamGroup(rest), ParamGroup(text, lr_scale=self.text_lr_scale)])
        ]

    def validation_metrics(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Retrieval on the whole ``val`` dataset (rank 0; ``{}`` elsewhere)."""
        rows = rank_zero_validation_batches(VAL_DATASET, 128)
        if rows is None:
            return {}
        metrics = retrieval_metrics(model, rows, device, prefix="val_")
        return {k: v for k, v in metrics.items() if not k.startswith("val_chance")}

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"model_config": self.model_config}
