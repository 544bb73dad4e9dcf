"""COOLANT as a task of the generic training loop (Wang et al., ACM MM 2023).

Rows (``pipelines/news``): ``image`` (JPEG bytes), ``text``, ``label`` (1 fake, 0 real). The
collate decodes and normalises the images and tokenizes the texts in the workers' data threads;
the model returns the detection, alignment and auxiliary losses
(:class:`~crossmodal_ray.models.coolant.model.CoolantModel`).

Two optimisers (the loop's several-optimiser support): ``main`` over the encoders, aligners,
fusion, attention and classifier, ``auxiliary`` over the similarity module and the ambiguity
encoders, whose losses see detached features. Each epoch is validated on the ``val`` dataset
(accuracy, macro F1) and the checkpoints are ranked by ``val_accuracy``: the model is chosen on
validation, never on test (the authors' code picks the best test epoch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from crossmodal_ray.models.coolant.config import CoolantConfig
from crossmodal_ray.models.coolant.model import CoolantModel
from crossmodal_ray.training.optimizers import OptimizerSpec, ParamGroup
from crossmodal_ray.training.tasks.coolant_collate import NEWS_COLUMNS, collate_posts, model_inputs
from crossmodal_ray.training.tasks.coolant_evaluation import detection_metrics
from crossmodal_ray.training.validation_rows import rank_zero_validation_batches

VAL_DATASET = "val"
LOSS_TERMS = ("detection_loss", "itc_loss", "soft_loss", "auxiliary_loss", "fusion_weight")


@dataclass
class CoolantTask:
    """COOLANT or one of its baselines (``model_config["modality"]``); see the module docstring."""

    model_config: dict[str, Any]
    auxiliary_lr_scale: float = 1.0
    name: str = "coolant"
    columns: tuple[str, ...] = NEWS_COLUMNS
    validation_metric: str = "val_accuracy"
    validation_mode: str = "max"
    validation_datasets: tuple[str, ...] = (VAL_DATASET,)
    corpus_id: str = ""

    @property
    def config(self) -> CoolantConfig:
        return CoolantConfig.from_dict(self.model_config)

    def build_model(self) -> nn.Module:
        return CoolantModel(self.config)

    def collate(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return collate_posts(batch, self.config)

    def training_loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        inputs = model_inputs(batch)
        out = model(
            inputs.pop("images"),
            inputs.pop("input_ids", None),
            inputs.pop("attention_mask", None),
            batch["labels"],
            **inputs,
        )
        return out["loss"], {k: float(out[k]) for k in LOSS_TERMS if k in out}

    def optimizers(self, model: CoolantModel, loop: Any) -> list[OptimizerSpec]:
        auxiliary = [p for m in model.auxiliary_modules() for p in m.parameters()]
        aux_ids = {id(p) for p in auxiliary}
        main = [p for p in model.parameters() if id(p) not in aux_ids]
        specs = [OptimizerSpec("main", [ParamGroup(main)])]
        if auxiliary:
            group = ParamGroup(auxiliary, lr_scale=self.auxiliary_lr_scale)
            specs.append(OptimizerSpec("auxiliary", [group]))
        return specs

    def validation_metrics(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Accuracy and F1 on the whole ``val`` dataset (rank 0; ``{}`` elsewhere)."""
        rows = rank_zero_validation_batches(VAL_DATASET, 128)
        if rows is None:
            return {}
        metrics = detection_metrics(model, rows, device)
        return {f"val_{k}": v for k, v in metrics.items() if k in ("accuracy", "macro_f1")}

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"model_config": self.model_config, "corpus_id": self.corpus_id}
