"""A VG-BERT stage-1 run on a finished image-text corpus: train, pick the best epoch on
validation retrieval, report retrieval next to chance and an untrained model of the same shape.

What ``jobs/train_vgbert.py`` runs once the corpus is ready. COCO has no test split of its
own: the retrieval figures are those of the validation images that chose the epoch (as the
paper reports COCO val); a corpus with a ``test`` split is reported on it, once. A Visual Genome
corpus trains on its region descriptions as captions (``captions_view``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from crossmodal_ray.models.vgbert.config import VGBERTConfig
from crossmodal_ray.models.vgbert.model import VGBERTModel
from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.pipelines.core.shard_reader import read_split
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.tasks.vgbert import PAIR_COLUMNS, VGBERTTask
from crossmodal_ray.training.tasks.vgbert_retrieval import retrieval_metrics

EVAL_BATCH = 128


def _rows(dataset) -> Any:
    return dataset.select_columns(list(PAIR_COLUMNS)).iter_batches(
        batch_size=EVAL_BATCH, batch_format="numpy"
    )


def captions_view(dataset: Any) -> Any:
    """The rows as image-caption pairs: a Visual Genome corpus has no captions, its region
    descriptions serve as the image's captions (images without one are left out)."""
    names = dataset.schema().names
    if "captions" in names or "region_phrases" not in names:
        return dataset
    renamed = dataset.rename_columns({"region_phrases": "captions"})
    return renamed.filter(lambda row: len(row["captions"]) > 0)


def run_vgbert_experiment(
    shards_dir: str,
    corpus: str,
    manifest: dict,
    model_config: VGBERTConfig,
    loop: TrainLoopConfig,
    log: Callable[[str], None],
) -> dict:
    """Train and evaluate (see the module docstring); returns the job's metrics JSON."""
    from crossmodal_ray.training.trainer import (
        best_validation_value,
        train_and_load_best,
    )

    rows = {split: info["rows"] for split, info in manifest["splits"].items()}
    if not rows.get("train") or not rows.get("val"):
        raise ValueError(f"corpus {corpus} needs train and val rows, has {rows}")
    report_split = "test" if rows.get("test") else "val"
    splits = {
        split: captions_view(read_split(shards_dir, corpus, split)) for split in rows if rows[split]
    }
    task = VGBERTTask(model_config.to_dict())
    log(f"[train_vgbert] training '{loop.run_name}' on {loop.num_workers} worker(s), rows {rows}")
    model = VGBERTModel(model_config)
    result, best_location = train_and_load_best(task, loop, splits["train"], splits["val"], model)
    device = torch.device("cpu")
    log(f"[train_vgbert] retrieval on the {report_split} split: best epoch, untrained model")
    metrics = retrieval_metrics(model, _rows(splits[report_split]), device)
    torch.manual_seed(loop.seed)
    untrained = retrieval_metrics(VGBERTModel(model_config), _rows(splits[report_split]), device)
    results: dict[str, Any] = {"split": report_split}
    results.update({k: v for k, v in metrics.items() if not k.startswith("chance_")})
    results.update({k: v for k, v in metrics.items() if k.startswith("chance_")})
    results.update(
        {f"baseline_untrained_{k}": v for k, v in untrained.items() if not k.startswith("chance")}
    )
    results.update(
        samples_per_s=float(result.metrics.get("samples_per_s", float("nan"))),
        steps=int(result.metrics.get("global_step", 0)),
        resumed_from_step=int(result.metrics.get("resumed_from_step", 0)),
        best_val_r_mean=best_validation_value(result, task),
        rows=rows,
        run_dir=storage.join(loop.storage_path, loop.run_name),
        best_checkpoint=best_location,
        corpus=storage.join(shards_dir, corpus),
    )
    return results
