"""Classification metrics with their baselines: accuracy, per-class precision / recall / F1,
macro F1, and what a majority-class predictor scores on the same labels.

Precision of a class the model never predicts is 0 (not NaN), as scikit-learn's
``zero_division=0``; F1 is 0 when precision and recall are both 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def classification_metrics(
    labels: np.ndarray, predictions: np.ndarray, class_names: Sequence[str]
) -> dict[str, float]:
    """``accuracy``, ``macro_f1`` and ``precision_<c>``, ``recall_<c>``, ``f1_<c>`` per class."""
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    metrics = {"accuracy": float(np.mean(labels == predictions)) if len(labels) else float("nan")}
    f1s = []
    for index, name in enumerate(class_names):
        tp = float(np.sum((predictions == index) & (labels == index)))
        predicted = float(np.sum(predictions == index))
        actual = float(np.sum(labels == index))
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        metrics.update({f"precision_{name}": precision, f"recall_{name}": recall, f"f1_{name}": f1})
        f1s.append(f1)
    metrics["macro_f1"] = float(np.mean(f1s))
    return metrics


def majority_class(train_labels: np.ndarray) -> int:
    """The most frequent training label (the smallest on ties)."""
    values, counts = np.unique(np.asarray(train_labels), return_counts=True)
    return int(values[np.argmax(counts)])
