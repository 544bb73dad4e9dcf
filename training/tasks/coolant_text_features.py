"""The frozen text encoder's pooled features, computed once per corpus instead of every step.

COOLANT's text encoder is a fixed feature extractor by default (``--trainable-text-layers 0``;
the authors' pipeline also feeds precomputed BERT features): its output for a post never
changes, so the experiment adds a ``text_features`` column (float32 [hidden]) to every split
with Ray Data (an actor per CPU slot holds the encoder, loaded once) and materialises it,
and every model variant trains and evaluates on that column. On the sample corpus this removes
the encoder's forward pass (about 20 GFLOP per batch of 32 posts) from every training step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from crossmodal_ray.models.coolant.encoders import pooled_text_features
from crossmodal_ray.models.layers.pretrained_text import load_text_encoder
from crossmodal_ray.training.media_collate import tokenize
from crossmodal_ray.training.tasks.coolant_collate import TEXT_FEATURES, post_text

BATCH = 128


class TextFeatureExtractor:
    """Ray Data callable: rows with ``text`` -> the same rows plus ``text_features``."""

    def __init__(self, text_model: str, max_words: int) -> None:
        self.text_model = text_model
        self.max_words = max_words
        self.encoder = load_text_encoder(text_model).eval()

    @torch.no_grad()
    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        tokens = tokenize([post_text(t) for t in batch["text"]], self.text_model, self.max_words)
        # The padding past the batch's longest text changes nothing (masked) but costs time.
        width = max(1, int(tokens["attention_mask"].sum(1).max()))
        ids, mask = tokens["input_ids"][:, :width], tokens["attention_mask"][:, :width]
        pooled = pooled_text_features(self.encoder, ids, mask)
        batch[TEXT_FEATURES] = pooled.float().numpy().astype(np.float32)
        return batch


def with_text_features(dataset: Any, text_model: str, max_words: int, concurrency: int = 1) -> Any:
    """``dataset`` with the ``text_features`` column, materialised (computed once)."""
    from ray.data import ActorPoolStrategy

    return dataset.map_batches(
        TextFeatureExtractor,
        fn_constructor_args=(text_model, max_words),
        batch_size=BATCH,
        batch_format="numpy",
        compute=ActorPoolStrategy(size=concurrency),
    ).materialize()
