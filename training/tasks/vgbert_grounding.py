"""VG-BERT stage 2 as a task of the generic training loop: object retrieval and relations.

Starts from stage 1's best checkpoint (``init_checkpoint``: a local path or a storage URI that
every worker can read) and trains the stage-2 heads on Visual Genome rows
(:class:`~crossmodal_ray.models.vgbert.grounding_model.VGBERTGroundingModel`); each epoch is
validated on the ``val`` dataset and ranked by ``val_grounding_mean`` (the mean of object
retrieval accuracy and relation Acc@1; higher is better).

Learning rates: the heads at the loop's rate; with ``train_streams`` the language stream's
trainable layers at ``text_lr_scale`` (0.1) of it and the visual stream at 1x, as in stage 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from crossmodal_ray.models.vgbert.config import VGBERTConfig
from crossmodal_ray.models.vgbert.grounding_config import GroundingConfig
from crossmodal_ray.models.vgbert.grounding_model import VGBERTGroundingModel
from crossmodal_ray.models.vgbert.model import VGBERTModel
from crossmodal_ray.training.optimizers import OptimizerSpec, ParamGroup
from crossmodal_ray.training.tasks.vgbert_grounding_collate import (
    GROUNDING_COLUMNS,
    collate_grounding,
)
from crossmodal_ray.training.tasks.vgbert_grounding_eval import MODEL_INPUTS, grounding_metrics
from crossmodal_ray.training.validation_rows import rank_zero_validation_batches

VAL_DATASET = "val"
LOSS_TERMS = ("object_loss", "pair_loss", "relation_loss", "localization_loss")


def load_stage1_weights(model: VGBERTModel, location: str) -> None:
    """Stage 1's weights from a checkpoint folder (local path or ``s3://`` / ``gs://`` URI)."""
    from crossmodal_ray.pipelines.core import storage
    from crossmodal_ray.training.checkpointing import load_model_weights

    with storage.local_dir_for_reading(location) as directory:
        load_model_weights(directory, model)


def build_grounding_model(
    model_config: dict[str, Any], grounding_config: dict[str, Any], init_checkpoint: str = ""
) -> VGBERTGroundingModel:
    """The stage-2 model, its streams loaded from stage 1 when ``init_checkpoint`` is given."""
    base = VGBERTModel(VGBERTConfig.from_dict(model_config))
    if init_checkpoint:
        load_stage1_weights(base, init_checkpoint)
    return VGBERTGroundingModel(base, GroundingConfig.from_dict(grounding_config))


@dataclass
class VGBERTGroundingTask:
    """Stage 2 of VG-BERT (see the module docstring)."""

    model_config: dict[str, Any]
    grounding_config: dict[str, Any]
    init_checkpoint: str = ""
    text_lr_scale: float = 0.1
    name: str = "vgbert_grounding"
    columns: tuple[str, ...] = GROUNDING_COLUMNS
    validation_metric: str = "val_grounding_mean"
    validation_mode: str = "max"
    validation_datasets: tuple[str, ...] = (VAL_DATASET,)

    def build_model(self) -> nn.Module:
        return build_grounding_model(self.model_config, self.grounding_config, self.init_checkpoint)

    def collate(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        config = VGBERTConfig.from_dict(self.model_config)
        return collate_grounding(
            batch,
            GroundingConfig.from_dict(self.grounding_config),
            config.resolved_text_model(),
            config.image_size,
        )

    def training_loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        out = model(**{k: batch[k] for k in MODEL_INPUTS})
        return out["loss"], {k: float(out[k]) for k in LOSS_TERMS}

    def optimizers(self, model: VGBERTGroundingModel, loop: Any) -> list[OptimizerSpec]:
        base_ids = {id(p) for p in model.base.parameters()}
        heads = [p for p in model.parameters() if id(p) not in base_ids]
        groups = [ParamGroup(heads)]
        if model.grounding.train_streams:
            text = list(model.base.language.parameters())
            text_ids = {id(p) for p in text}
            visual = [p for p in model.base.parameters() if id(p) not in text_ids]
            groups += [ParamGroup(visual), ParamGroup(text, lr_scale=self.text_lr_scale)]
        return [OptimizerSpec("main", groups)]

    def validation_metrics(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Stage-2 metrics on the whole ``val`` dataset (rank 0; ``{}`` elsewhere)."""
        rows = rank_zero_validation_batches(VAL_DATASET, 64)
        if rows is None:
            return {}
        metrics = grounding_metrics(model, rows, device, prefix="val_")
        return {k: v for k, v in metrics.items() if not k.startswith("val_chance")}

    def checkpoint_extras(self) -> dict[str, Any]:
        return {
            "model_config": self.model_config,
            "grounding_config": self.grounding_config,
            "init_checkpoint": self.init_checkpoint,
        }
