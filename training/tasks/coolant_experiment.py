"""A COOLANT run on a finished news corpus: COOLANT, its ablation without soft targets and the
text-only and image-only models, trained the same way (same loop, data, epochs), each chosen on
validation, then the test split reported once next to the majority-class baseline.

What ``jobs/train_coolant.py`` runs once the corpus is ready.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from crossmodal_ray.models.coolant.config import CoolantConfig
from crossmodal_ray.models.coolant.model import CoolantModel
from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.pipelines.core.shard_reader import read_split
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.metrics.classification import classification_metrics, majority_class
from crossmodal_ray.training.run_checkpoints import check_resumable, corpus_identity
from crossmodal_ray.training.tasks.coolant import CoolantTask
from crossmodal_ray.training.tasks.coolant_collate import NEWS_COLUMNS, TEXT_FEATURES
from crossmodal_ray.training.tasks.coolant_evaluation import CLASS_NAMES, detection_metrics
from crossmodal_ray.training.tasks.coolant_text_features import with_text_features

# name -> overrides of the model config; "coolant" is the method, the others its comparisons.
VARIANTS: dict[str, dict[str, Any]] = {
    "coolant": {},
    "no_soft_targets": {"soft_target_weight": 0.0},
    "text_only": {"modality": "text"},
    "image_only": {"modality": "image"},
}
EVAL_BATCH = 128
REPORTED = (
    "accuracy",
    "macro_f1",
    "precision_fake",
    "recall_fake",
    "f1_fake",
    "precision_real",
    "recall_real",
    "f1_real",
)


def _labels(dataset) -> np.ndarray:
    batches = dataset.select_columns(["label"]).iter_batches(batch_size=4096, batch_format="numpy")
    return np.concatenate([np.asarray(b["label"], dtype=np.int64) for b in batches])


def _rows(dataset, columns: tuple[str, ...]) -> Any:
    return dataset.select_columns(list(columns)).iter_batches(
        batch_size=EVAL_BATCH, batch_format="numpy"
    )


def train_variant(
    name: str,
    config: CoolantConfig,
    loop: TrainLoopConfig,
    splits: dict[str, Any],
    columns: tuple[str, ...],
    report_split: str,
    log: Callable[[str], None],
    corpus_id: str = "",
) -> dict[str, Any]:
    """Train one variant on ``columns`` of the splits, load its best validation epoch, score
    ``report_split``."""
    from crossmodal_ray.training.trainer import (
        best_validation_value,
        train_and_load_best,
    )

    task = CoolantTask(config.to_dict(), name=name, columns=columns, corpus_id=corpus_id)
    variant_loop = dataclasses.replace(loop, run_name=f"{loop.run_name}_{name}")
    check_resumable(variant_loop, task.model_config, corpus_id)
    log(f"[train_coolant] {name}: training '{variant_loop.run_name}'")
    model = CoolantModel(config)
    result, best_location = train_and_load_best(
        task, variant_loop, splits["train"], splits["val"], model
    )
    metrics = detection_metrics(model, _rows(splits[report_split], columns), torch.device("cpu"))
    metrics.update(
        best_val_accuracy=best_validation_value(result, task),
        steps=int(result.metrics.get("global_step", 0)),
        resumed_from_step=int(result.metrics.get("resumed_from_step", 0)),
        best_checkpoint=best_location,
    )
    log(f"[train_coolant] {name}: {report_split} accuracy {metrics['accuracy']:.3f}")
    return metrics


def run_coolant_experiment(
    shards_dir: str,
    corpus: str,
    manifest: dict,
    model_config: CoolantConfig,
    loop: TrainLoopConfig,
    log: Callable[[str], None],
    variants: Sequence[str] = tuple(VARIANTS),
) -> dict:
    """Train every variant and report them side by side (see the module docstring)."""
    rows = {split: info["rows"] for split, info in manifest["splits"].items()}
    missing = [s for s in ("train", "val") if not rows.get(s)]
    if missing:
        raise ValueError(f"corpus {corpus} has no {missing} rows ({rows}): see --split-by")
    report_split = "test" if rows.get("test") else "val"
    splits: dict[str, Any] = {
        split: read_split(shards_dir, corpus, split) for split in rows if rows[split]
    }
    columns = NEWS_COLUMNS
    if model_config.trainable_text_layers == 0:
        log(
            "[train_coolant] frozen text encoder: its features computed once for the distinct texts "
            f"({loop.num_workers} actors, the training workers' CPUs)"
        )
        splits = with_text_features(
            splits, model_config.resolved_text_model(), model_config.max_words, loop.num_workers
        )
        columns = NEWS_COLUMNS + (TEXT_FEATURES,)
    majority = majority_class(_labels(splits["train"]))
    report_labels = _labels(splits[report_split])
    baseline = classification_metrics(
        report_labels, np.full_like(report_labels, majority), CLASS_NAMES
    )
    per_variant = {}
    for name in variants:
        config = dataclasses.replace(model_config, **VARIANTS[name])
        per_variant[name] = train_variant(
            name, config, loop, splits, columns, report_split, log, corpus_identity(manifest)
        )
    results: dict[str, Any] = {"split": report_split}
    main = per_variant.get("coolant", {})
    results.update({k: main[k] for k in REPORTED if k in main})
    results.update({f"baseline_majority_{k}": baseline[k] for k in ("accuracy", "macro_f1")})
    for name, metrics in per_variant.items():
        if name != "coolant":
            results.update({f"{name}_{k}": metrics[k] for k in ("accuracy", "macro_f1")})
    results.update(
        majority_class=CLASS_NAMES[majority],
        variants=per_variant,
        rows=rows,
        fake_share={report_split: float(np.mean(report_labels == 1))},
        corpus=storage.join(shards_dir, corpus),
    )
    return results
