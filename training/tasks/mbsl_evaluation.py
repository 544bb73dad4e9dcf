"""Evaluate MBSL on held-out subjects: linear probes, fine-tuned heads, and two baselines.

Reported on the test split (subjects never seen in training or model selection):
- ``hr_mae_bpm``, ``rr_mae_bpm``, ``activity_acc``, ``apnea_f1``: linear probes on the frozen
  pretrained encoder (probe strength chosen on the validation split);
- ``baseline_mean_*``: the training mean (regression) / majority class (classification);
- ``baseline_random_encoder_*``: the same probes on an untrained encoder of the same shape;
- ``finetune_*``: the pretrained encoder fine-tuned end to end with the downstream heads.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import ray.data
import torch
from torch import nn

from crossmodal_ray.models.mbsl.heads import MBSLDownstream, regression_to_bpm
from crossmodal_ray.models.mbsl.model import MBSLEncoder
from crossmodal_ray.training.metrics.linear_probe import (
    LinearProbes,
    SplitData,
    downstream_metrics,
    mean_baseline_predictions,
)
from crossmodal_ray.training.tasks.mbsl import LABEL_COLUMNS, SIGNAL_COLUMNS, collate_signals

EVAL_BATCH_ROWS = 256


def _batches(dataset: ray.data.Dataset):
    columns = list(SIGNAL_COLUMNS + LABEL_COLUMNS)
    yield from dataset.select_columns(columns).iter_batches(
        batch_size=EVAL_BATCH_ROWS, batch_format="numpy"
    )


def _signal_tensors(batch: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    tensors = collate_signals(batch)
    return tensors["signals"], tensors["channel_present"]


def collect_split(
    dataset: ray.data.Dataset, outputs_fn: Callable[[torch.Tensor, torch.Tensor], np.ndarray]
) -> SplitData:
    """Run ``outputs_fn(signals, present)`` over a split; keep its output and the labels."""
    outputs, labels = [], {name: [] for name in LABEL_COLUMNS}
    with torch.no_grad():
        for batch in _batches(dataset):
            outputs.append(outputs_fn(*_signal_tensors(batch)))
            for name in LABEL_COLUMNS:
                labels[name].append(np.asarray(batch[name]))
    return SplitData(
        features=np.concatenate(outputs) if outputs else np.zeros((0, 0)),
        labels={
            name: np.concatenate(values).astype(np.float64 if name.endswith("bpm") else np.int64)
            for name, values in labels.items()
        },
    )


def encoder_features_fn(encoder: MBSLEncoder) -> Callable[[torch.Tensor, torch.Tensor], np.ndarray]:
    """Frozen, unmasked features [B, G*E] of ``encoder`` (eval mode)."""
    encoder.eval()
    return lambda signals, present: encoder.features(signals, present).float().numpy()


def collect_features(
    dataset: ray.data.Dataset, encoders: dict[str, MBSLEncoder]
) -> dict[str, SplitData]:
    """One pass over a split: every encoder's frozen features, with the labels (each Ray Data
    execution costs seconds of start-up, so the encoders share it)."""
    names = list(encoders)
    functions = [encoder_features_fn(encoders[name]) for name in names]
    joined = collect_split(
        dataset,
        lambda signals, present: np.concatenate([f(signals, present) for f in functions], 1),
    )
    widths = np.cumsum([0] + [encoders[name].feature_dim for name in names])
    return {
        name: SplitData(joined.features[:, widths[i] : widths[i + 1]], joined.labels)
        for i, name in enumerate(names)
    }


def probe_metrics_of_encoders(
    encoders: dict[str, MBSLEncoder], splits: dict[str, ray.data.Dataset]
) -> tuple[dict[str, dict[str, float]], dict[str, SplitData]]:
    """Linear-probe metrics on the test split of each encoder (probes fitted on train, tuned on
    val), reading each split once; also returns the splits' labels (for baselines)."""
    data = {split: collect_features(ds, encoders) for split, ds in splits.items()}
    metrics = {}
    for name in encoders:
        probes = LinearProbes.fit(data["train"][name], data["val"][name])
        metrics[name] = probes.evaluate(data["test"][name])
    first = next(iter(encoders))
    return metrics, {split: by_name[first] for split, by_name in data.items()}


def probe_metrics(encoder: MBSLEncoder, splits: dict[str, ray.data.Dataset]) -> dict[str, float]:
    """Linear-probe metrics on the test split (probe fitted on train, tuned on val)."""
    return probe_metrics_of_encoders({"encoder": encoder}, splits)[0]["encoder"]


def mean_baseline_metrics(train: SplitData, test: SplitData) -> dict[str, float]:
    """Metrics of predicting the training mean / majority class."""
    predictions = mean_baseline_predictions(train.labels, len(test.labels["hr_bpm"]))
    return downstream_metrics(predictions, test.labels)


def finetuned_metrics(
    model: MBSLDownstream, target_stats: dict, test: ray.data.Dataset
) -> dict[str, float]:
    """Metrics of the fine-tuned heads on the test split."""
    model.eval()

    def predict(signals: torch.Tensor, present: torch.Tensor) -> np.ndarray:
        outputs = model(signals, present)
        bpm = regression_to_bpm(outputs, target_stats)
        return np.stack(
            [
                bpm["hr_bpm"].numpy(),
                bpm["rr_bpm"].numpy(),
                outputs["activity_logits"].argmax(-1).float().numpy(),
                (outputs["apnea_logit"] > 0).float().numpy(),
            ],
            axis=1,
        )

    data = collect_split(test, predict)
    predictions = {
        "hr_bpm": data.features[:, 0],
        "rr_bpm": data.features[:, 1],
        "activity": data.features[:, 2].astype(np.int64),
        "apnea": data.features[:, 3].astype(np.int64),
    }
    return downstream_metrics(predictions, data.labels)


def prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}{key}": value for key, value in metrics.items()}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
