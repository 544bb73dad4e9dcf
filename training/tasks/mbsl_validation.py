"""MBSL's per-epoch validation metric: a cheap linear probe of respiration and heart rate.

What Ray Tune's schedulers compare between trials (``val_rr_mae_bpm``, ``val_hr_mae_bpm``):

1. frozen, unmasked encoder features of a fixed subset of TRAINING windows (the
   ``probe_train`` dataset, ~1k rows, see :func:`fixed_subset`) and of the VALIDATION split
   (the ``val`` dataset), both handed to the Ray Train run whole (not split across workers);
2. ridge regression on the standardised training-subset features, one probe per target;
3. mean absolute error on the validation windows (per minute), the ridge strength chosen
   among ``RIDGE_ALPHAS`` on the validation split, as in the final evaluation protocol
   (:mod:`training.metrics.linear_probe`). The test split is never read here.

Rank 0 computes it; other ranks return ``{}`` (the loop still reports on every rank). The
windows are read once per worker process and cached (~7 MB per 1k windows of 7 x 256 floats),
so an epoch costs two forward passes over ~2k windows (a few seconds on one CPU core).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import ray.data
import torch
from sklearn.preprocessing import StandardScaler

from crossmodal_ray.training.metrics.linear_probe import (
    RIDGE_ALPHAS,
    fit_ridge,
    mean_absolute_error,
)

PROBE_TRAIN_DATASET = "probe_train"
VAL_DATASET = "val"
DEFAULT_PROBE_TRAIN_ROWS = 1024
PROBE_COLUMNS = ("signals", "channel_present", "hr_bpm", "rr_bpm", "activity", "apnea")
# Regression target -> reported metric.
VALIDATION_TARGETS = {"rr_bpm": "val_rr_mae_bpm", "hr_bpm": "val_hr_mae_bpm"}
FEATURE_BATCH_ROWS = 256


@dataclass
class ProbeWindows:
    """Windows of one split held in memory: signals [N, C, T], present [N, C], labels [N]
    (``hr_bpm``, ``rr_bpm`` float, NaN unknown; ``activity``, ``apnea`` int, -1 unknown)."""

    signals: np.ndarray
    present: np.ndarray
    labels: dict[str, np.ndarray]


_WINDOW_CACHE: dict[str, ProbeWindows] = {}


def _keep_by_sample_id(table: pa.Table, modulus: int) -> pa.Table:
    ids = table.column("sample_id").to_pylist()
    keep = np.fromiter((zlib.crc32(str(i).encode()) % modulus == 0 for i in ids), bool, len(ids))
    return table.filter(pa.array(keep))


def fixed_subset(dataset: ray.data.Dataset, total_rows: int, rows: int) -> ray.data.Dataset:
    """About ``rows`` rows of ``dataset`` (at most ``rows``), the same ones on every read.

    Rows are kept by a hash of their stable ``sample_id`` (not by position, which would take
    the first subjects' windows only, nor by a random draw, which depends on block order), so
    the subset spreads over all subjects and every trial of a sweep sees the same windows.
    """
    if rows >= total_rows:
        return dataset
    # Keep ~1/modulus of the rows, a little more than asked so that ``limit`` trims.
    modulus = max(1, int(total_rows / (rows * 1.1)))
    kept = dataset.map_batches(
        _keep_by_sample_id, fn_kwargs={"modulus": modulus}, batch_format="pyarrow"
    )
    return kept.limit(rows)


def validation_datasets(
    train: ray.data.Dataset,
    train_rows: int,
    val: ray.data.Dataset,
    probe_train_rows: int = DEFAULT_PROBE_TRAIN_ROWS,
) -> dict[str, ray.data.Dataset]:
    """The two extra datasets :func:`mbsl_validation_metrics` reads: pass them to
    ``run_training(..., extra_datasets=...)``."""
    return {
        PROBE_TRAIN_DATASET: fixed_subset(train, train_rows, probe_train_rows).select_columns(
            list(PROBE_COLUMNS)
        ),
        VAL_DATASET: val.select_columns(list(PROBE_COLUMNS)),
    }


def _read_windows(name: str) -> ProbeWindows:
    """All rows of the named (unsplit) Ray Train dataset, read once per process."""
    if name not in _WINDOW_CACHE:
        iterator = ray.train.get_dataset_shard(name)
        parts: dict[str, list[np.ndarray]] = {column: [] for column in PROBE_COLUMNS}
        for batch in iterator.iter_batches(batch_size=FEATURE_BATCH_ROWS, batch_format="numpy"):
            for column in PROBE_COLUMNS:
                parts[column].append(np.asarray(batch[column]))
        arrays = {c: np.concatenate(v) if v else np.zeros((0,)) for c, v in parts.items()}
        _WINDOW_CACHE[name] = ProbeWindows(
            signals=arrays["signals"].astype(np.float32, copy=False),
            present=arrays["channel_present"].astype(bool, copy=False),
            labels={
                **{t: arrays[t].astype(np.float64) for t in VALIDATION_TARGETS},
                "activity": arrays["activity"].astype(np.int64),
                "apnea": arrays["apnea"].astype(np.int64),
            },
        )
    return _WINDOW_CACHE[name]


@torch.no_grad()
def encoder_features(encoder: torch.nn.Module, windows: ProbeWindows, device) -> np.ndarray:
    """Frozen, unmasked features [N, G*E] of ``encoder`` for ``windows``."""
    features = []
    for start in range(0, len(windows.signals), FEATURE_BATCH_ROWS):
        signals = torch.from_numpy(windows.signals[start : start + FEATURE_BATCH_ROWS])
        present = torch.from_numpy(windows.present[start : start + FEATURE_BATCH_ROWS])
        batch = encoder.features(signals.to(device), present.to(device))
        features.append(batch.float().cpu().numpy())
    return np.concatenate(features) if features else np.zeros((0, 0))


def ridge_validation_mae(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray
) -> float:
    """Lowest validation MAE of a ridge probe over ``RIDGE_ALPHAS`` (NaN labels left out)."""
    known_train, known_val = ~np.isnan(y_train), ~np.isnan(y_val)
    if known_train.sum() < 2 or not known_val.any():
        return math.nan
    errors = []
    for alpha in RIDGE_ALPHAS:
        model = fit_ridge(alpha, x_train[known_train], y_train[known_train])
        errors.append(mean_absolute_error(model.predict(x_val[known_val]), y_val[known_val]))
    return float(min(errors))


def probe_validation_metrics(
    encoder: torch.nn.Module, probe_train: ProbeWindows, val: ProbeWindows, device
) -> dict[str, float]:
    """``val_rr_mae_bpm`` and ``val_hr_mae_bpm`` of ridge probes on frozen features."""
    x_train = encoder_features(encoder, probe_train, device)
    x_val = encoder_features(encoder, val, device)
    scaler = StandardScaler().fit(x_train)
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
    return {
        metric: ridge_validation_mae(x_train, probe_train.labels[t], x_val, val.labels[t])
        for t, metric in VALIDATION_TARGETS.items()
    }


def mbsl_validation_metrics(model: torch.nn.Module, device) -> dict[str, float]:
    """Per-epoch validation metrics of an MBSL pretraining model (rank 0; ``{}`` elsewhere).

    Returns ``{}`` too when the run was given no ``probe_train``/``val`` datasets (a plain
    ``jobs/train_mbsl.py`` run).
    """
    if ray.train.get_context().get_world_rank() != 0:
        return {}
    try:
        probe_train = _read_windows(PROBE_TRAIN_DATASET)
        val = _read_windows(VAL_DATASET)
    except KeyError:
        return {}
    return probe_validation_metrics(model.encoder, probe_train, val, device)


@torch.no_grad()
def finetune_validation_metrics(
    model: torch.nn.Module,
    device,
    target_stats: dict,
    loss_weights: dict[str, float] | None = None,
) -> dict[str, float]:
    """Validation metrics of the fine-tuned heads (rank 0; ``{}`` elsewhere).

    ``val_loss``: the training objective of the four heads (:func:`downstream_loss`, labels
    standardised with the training split's statistics) on every validation window, the metric
    that picks the best epoch; ``val_hr_mae_bpm``, ``val_rr_mae_bpm`` for reading along.
    """
    from crossmodal_ray.models.mbsl.heads import downstream_loss, regression_to_bpm

    if ray.train.get_context().get_world_rank() != 0:
        return {}
    val = _read_windows(VAL_DATASET)
    totals, count = 0.0, 0
    errors: dict[str, list[np.ndarray]] = {t: [] for t in VALIDATION_TARGETS}
    for start in range(0, len(val.signals), FEATURE_BATCH_ROWS):
        rows = slice(start, start + FEATURE_BATCH_ROWS)
        signals = torch.from_numpy(val.signals[rows]).to(device)
        present = torch.from_numpy(val.present[rows]).to(device)
        outputs = model(signals, present)
        targets = {name: torch.from_numpy(values[rows]) for name, values in val.labels.items()}
        result = downstream_loss(outputs, targets, target_stats, loss_weights)
        totals += float(result["loss"]) * len(signals)
        count += len(signals)
        bpm = regression_to_bpm({k: v.float().cpu() for k, v in outputs.items()}, target_stats)
        for target in VALIDATION_TARGETS:
            errors[target].append(bpm[target].numpy() - val.labels[target][rows])
    metrics = {"val_loss": totals / count if count else math.nan}
    for target, metric in VALIDATION_TARGETS.items():
        diff = np.concatenate(errors[target]) if errors[target] else np.zeros(0)
        known = np.isfinite(diff)
        metrics[metric] = float(np.abs(diff[known]).mean()) if known.any() else math.nan
    return metrics
