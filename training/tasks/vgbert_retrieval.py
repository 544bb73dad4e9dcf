"""VG-BERT retrieval evaluation: every image against every caption of a split, Recall@K.

The features of all images and all captions (every caption of every image, COCO's five) are
computed once with the frozen model, then S(I, C) of eq. 1 for every pair in tiles
(:func:`crossmodal_ray.models.losses.word_region_maxsim.word_region_similarity`) and
:func:`crossmodal_ray.training.metrics.retrieval.recall_at_k`, with the chance level.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from crossmodal_ray.models.losses.word_region_maxsim import word_region_similarity
from crossmodal_ray.training.media_collate import image_batch, tokenize
from crossmodal_ray.training.metrics.retrieval import chance_recall_at_k, recall_at_k

FEATURE_BATCH = 64


@torch.no_grad()
def retrieval_features(
    model: Any, rows: Iterable[dict[str, Any]], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    """Regions [N_i, R, d], words [N_c, W, d], word masks [N_c, W] and each caption's image row,
    from batches of shard rows (``image``, ``captions``)."""
    config = model.config
    text_model = config.resolved_text_model()
    regions, words, masks, owner = [], [], [], []
    n_images = 0
    for batch in rows:
        images = image_batch(batch["image"], config.image_size).to(device)
        regions.append(model.encode_images(images).float().cpu())
        texts = [str(c) for caps in batch["captions"] for c in caps]
        owner += [n_images + i for i, caps in enumerate(batch["captions"]) for _ in caps]
        n_images += len(batch["captions"])
        for start in range(0, len(texts), FEATURE_BATCH):
            tokens = tokenize(texts[start : start + FEATURE_BATCH], text_model, config.max_words)
            ids = tokens["input_ids"].to(device)
            attention = tokens["attention_mask"].to(device)
            words.append(model.encode_text(ids, attention).float().cpu())
            masks.append(tokens["word_mask"])
    return torch.cat(regions), torch.cat(words), torch.cat(masks), np.asarray(owner)


def retrieval_metrics(
    model: Any, rows: Iterable[dict[str, Any]], device: torch.device, prefix: str = ""
) -> dict[str, float]:
    """R@1/5/10 both ways, their mean (``r_mean``) and the chance levels, keys prefixed."""
    was_training = model.training
    model.eval()
    try:
        regions, words, masks, owner = retrieval_features(model, rows, device)
    finally:
        model.train(was_training)
    similarity = word_region_similarity(
        regions, words, masks, model.config.normalize_features, model.config.tile_size
    )
    metrics = recall_at_k(similarity.numpy(), owner)
    metrics["r_mean"] = float(np.mean(list(metrics.values())))
    metrics.update(chance_recall_at_k(owner, regions.shape[0]))
    return {f"{prefix}{key}": value for key, value in metrics.items()}
