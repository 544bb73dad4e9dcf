"""VG-BERT stage-2 evaluation: object retrieval, pointing, object classification and relation
Acc@1/Acc@5 over a split's rows, each next to its chance level (and relations next to the
majority baseline); definitions in :mod:`crossmodal_ray.training.metrics.grounding`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from crossmodal_ray.training.metrics.grounding import (
    majority_hits,
    mean_or_nan,
    object_retrieval_hits,
    pointing_hits,
    relation_chance,
    topk_hits,
)
from crossmodal_ray.training.tasks.vgbert_grounding_collate import collate_grounding

MODEL_INPUTS = (
    "images",
    "phrase_ids",
    "phrase_attention",
    "phrase_words",
    "object_image",
    "object_class",
    "object_cells",
    "relation_subject",
    "relation_object",
    "relation_predicate",
)
RELATION_KS = (1, 5)


@torch.no_grad()
def grounding_outputs(
    model: Any, rows: Iterable[dict[str, Any]], device: torch.device
) -> dict[str, np.ndarray]:
    """Concatenated per-object and per-relation outputs of the model over ``rows``."""
    config, text_model = model.grounding, model.config.resolved_text_model()
    parts: dict[str, list[np.ndarray]] = {
        k: []
        for k in (
            "attention",
            "cover",
            "object_image",
            "object_logits",
            "object_class",
            "relation_logits",
            "relation_predicate",
        )
    }
    images_seen = 0
    for rows_batch in rows:
        batch = collate_grounding(rows_batch, config, text_model, model.config.image_size)
        out = model(**{k: batch[k].to(device) for k in MODEL_INPUTS})
        parts["attention"].append(out["attention"].float().cpu().numpy())
        parts["cover"].append(batch["object_cells"].numpy())
        parts["object_image"].append(batch["object_image"].numpy() + images_seen)
        parts["object_logits"].append(out["object_logits"].float().cpu().numpy())
        parts["object_class"].append(batch["object_class"].numpy())
        parts["relation_logits"].append(out["relation_logits"].float().cpu().numpy())
        parts["relation_predicate"].append(batch["relation_predicate"].numpy())
        images_seen += len(batch["images"])
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}


def grounding_metrics(
    model: Any,
    rows: Iterable[dict[str, Any]],
    device: torch.device,
    predicate_counts: Mapping[str, int] | None = None,
    prefix: str = "",
) -> dict[str, float]:
    """Stage-2 metrics with chance levels (``chance_*``) and, given the training predicate
    counts, the majority baseline (``baseline_majority_*``); keys prefixed."""
    was_training = model.training
    model.eval()
    try:
        out = grounding_outputs(model, rows, device)
    finally:
        model.train(was_training)
    predicates = model.grounding.predicates
    retrieved, retrieval_chance = object_retrieval_hits(
        out["attention"], out["cover"], out["object_image"]
    )
    pointed, pointing_chance = pointing_hits(out["attention"], out["cover"])
    classes = len(model.grounding.object_classes)
    classified = topk_hits(out["object_logits"], out["object_class"], 1)
    metrics = {
        "object_retrieval_acc": mean_or_nan(retrieved),
        "chance_object_retrieval_acc": mean_or_nan(retrieval_chance),
        "pointing_acc": mean_or_nan(pointed),
        "chance_pointing_acc": mean_or_nan(pointing_chance),
        "object_class_acc": mean_or_nan(classified),
        "chance_object_class_acc": 1.0 / classes,
        "objects": int(len(out["object_class"])),
        "relations": int(len(out["relation_predicate"])),
        "retrieval_phrases": int(len(retrieved)),
    }
    for k in RELATION_KS:
        hits = topk_hits(out["relation_logits"], out["relation_predicate"], k)
        metrics[f"relation_acc{k}"] = mean_or_nan(hits)
        metrics[f"chance_relation_acc{k}"] = relation_chance(len(predicates), k)
        if predicate_counts:
            ids = {name: i for i, name in enumerate(predicates)}
            counts = {ids[p]: c for p, c in predicate_counts.items() if p in ids}
            majority = majority_hits(out["relation_predicate"], counts, k)
            metrics[f"baseline_majority_relation_acc{k}"] = mean_or_nan(majority)
    metrics["grounding_mean"] = float(
        np.nanmean([metrics["object_retrieval_acc"], metrics["relation_acc1"]])
    )
    return {f"{prefix}{key}": value for key, value in metrics.items()}
