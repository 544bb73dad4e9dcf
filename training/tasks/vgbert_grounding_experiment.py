"""VG-BERT stage 2 on a finished Visual Genome corpus: vocabularies from the training split,
training of the stage-2 heads from stage 1's best checkpoint, selection on validation, and the
test split reported once (the validation split when the corpus has no test rows) next to chance,
the majority predicate and the same heads untrained on the same stage-1 streams.

What ``jobs/train_vgbert.py`` runs after stage 1 when it has a Visual Genome corpus.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from crossmodal_ray.models.vgbert.config import VGBERTConfig
from crossmodal_ray.models.vgbert.grounding_config import GroundingConfig
from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.pipelines.core.shard_reader import read_split
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.tasks.vgbert_grounding import (
    VGBERTGroundingTask,
    build_grounding_model,
)
from crossmodal_ray.training.tasks.vgbert_grounding_collate import GROUNDING_COLUMNS
from crossmodal_ray.training.tasks.vgbert_grounding_eval import grounding_metrics
from crossmodal_ray.training.tasks.vgbert_vocabulary import grounding_vocabulary

EVAL_BATCH = 64


def _rows(dataset) -> Any:
    return dataset.select_columns(list(GROUNDING_COLUMNS)).iter_batches(
        batch_size=EVAL_BATCH, batch_format="numpy"
    )


def run_grounding_experiment(
    shards_dir: str,
    corpus: str,
    manifest: dict,
    model_config: VGBERTConfig,
    grounding: GroundingConfig,
    loop: TrainLoopConfig,
    stage1_checkpoint: str,
    log: Callable[[str], None],
) -> dict:
    """Train and evaluate stage 2 (see the module docstring); returns its metrics, keys as in
    :func:`~crossmodal_ray.training.tasks.vgbert_grounding_eval.grounding_metrics` plus
    ``baseline_untrained_*`` and ``stage2_*`` bookkeeping."""
    from crossmodal_ray.training.trainer import (
        best_validation_value,
        train_and_load_best,
    )

    rows = {split: info["rows"] for split, info in manifest["splits"].items()}
    if not rows.get("train") or not rows.get("val"):
        raise ValueError(f"corpus {corpus} needs train and val rows for stage 2, has {rows}")
    report_split = "test" if rows.get("test") else "val"
    splits = {split: read_split(shards_dir, corpus, split) for split in rows if rows[split]}
    vocabulary = grounding_vocabulary(
        splits["train"], grounding.max_object_classes, grounding.max_predicates
    )
    grounding = dataclasses.replace(
        grounding, object_classes=vocabulary.object_classes, predicates=vocabulary.predicates
    )
    log(
        f"[stage2] {len(grounding.object_classes)} object classes, "
        f"{len(grounding.predicates)} predicates {grounding.predicates[:8]}; training "
        f"'{loop.run_name}' from {stage1_checkpoint}, rows {rows}"
    )
    task = VGBERTGroundingTask(model_config.to_dict(), grounding.to_dict(), stage1_checkpoint)
    model = build_grounding_model(model_config.to_dict(), grounding.to_dict())
    result, best_location = train_and_load_best(task, loop, splits["train"], splits["val"], model)
    device = torch.device("cpu")
    log(f"[stage2] objects and relations on the {report_split} split: best epoch, untrained heads")
    counts = vocabulary.predicate_counts
    metrics = grounding_metrics(model, _rows(splits[report_split]), device, counts)
    torch.manual_seed(loop.seed)
    untrained_model = build_grounding_model(
        model_config.to_dict(), grounding.to_dict(), stage1_checkpoint
    )
    untrained = grounding_metrics(untrained_model, _rows(splits[report_split]), device)
    results: dict[str, Any] = dict(metrics)
    results.update(
        {
            f"baseline_untrained_{k}": v
            for k, v in untrained.items()
            if not k.startswith(("chance_", "baseline_")) and isinstance(v, float)
        }
    )
    results.update(
        stage2_split=report_split,
        stage2_rows=rows,
        stage2_object_classes=len(grounding.object_classes),
        stage2_predicates=grounding.predicates,
        stage2_steps=int(result.metrics.get("global_step", 0)),
        stage2_resumed_from_step=int(result.metrics.get("resumed_from_step", 0)),
        stage2_best_val_grounding_mean=best_validation_value(result, task),
        stage2_run_dir=storage.join(loop.storage_path, loop.run_name),
        stage2_best_checkpoint=best_location,
        stage2_corpus=storage.join(shards_dir, corpus),
    )
    return results
