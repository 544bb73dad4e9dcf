"""COOLANT evaluation: predictions of a model over shard rows, and the metrics of
:mod:`crossmodal_ray.training.metrics.classification` (classes ``real`` = 0, ``fake`` = 1)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from crossmodal_ray.training.metrics.classification import classification_metrics
from crossmodal_ray.training.tasks.coolant_collate import collate_posts, model_inputs

CLASS_NAMES = ("real", "fake")


@torch.no_grad()
def predict(
    model: Any, rows: Iterable[dict[str, Any]], device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predicted classes over ``rows`` (batches of shard rows)."""
    was_training = model.training
    model.eval()
    labels, predictions = [], []
    try:
        for rows_batch in rows:
            batch = collate_posts(rows_batch, model.config)
            logits = model.classify(**model_inputs(batch, device))
            predictions.append(logits.argmax(1).cpu().numpy())
            labels.append(batch["labels"].numpy())
    finally:
        model.train(was_training)
    if not labels:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(labels), np.concatenate(predictions)


def detection_metrics(
    model: Any, rows: Iterable[dict[str, Any]], device: torch.device
) -> dict[str, float]:
    labels, predictions = predict(model, rows, device)
    return classification_metrics(labels, predictions, CLASS_NAMES)
