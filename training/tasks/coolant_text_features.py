"""The frozen text encoder's pooled features, computed once per corpus instead of every step.

COOLANT's text encoder is a fixed feature extractor by default (``--trainable-text-layers 0``;
the authors' pipeline also feeds precomputed BERT features): its output for a post never
changes, so the experiment adds a ``text_features`` column (float32 [hidden]) to every split
and every model variant trains and evaluates on that column. On the sample corpus this removes
the encoder's forward pass (about 20 GFLOP per batch of 32 posts) from every training step.

How: the distinct texts of all splits (a repeated tweet, one text per image of a multi-image
post: encoded once) go through one Ray Data pass whose actors (``concurrency``, each loading
the encoder once) encode them; a table text -> features (1.5 KB per text with MiniLM) is put in
the object store once and a cheap per-block lookup adds the column to each split. One encoder load per actor for the whole corpus,
and the images never travel through the encoding actors.
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


def _distinct_texts(datasets: dict[str, Any]) -> list[str]:
    texts: set[str] = set()
    for dataset in datasets.values():
        for batch in dataset.select_columns(["text"]).iter_batches(
            batch_size=4096, batch_format="numpy"
        ):
            texts.update(str(t) for t in batch["text"])
    return sorted(texts, key=lambda t: (len(t), t))  # similar lengths together: less padding


_TABLES: dict[str, tuple[dict[str, int], np.ndarray]] = {}  # per worker process, by object id


def _add_features(batch: dict[str, Any], table_ref: list[Any]) -> dict[str, Any]:
    """Look the batch's texts up in the table (fetched once per worker process: passing the
    table itself would pickle it into every task, 9 s per split on the sample corpus)."""
    import ray

    key = table_ref[0].hex()
    if key not in _TABLES:
        _TABLES.clear()
        _TABLES[key] = ray.get(table_ref[0])
    rows, features = _TABLES[key]
    batch[TEXT_FEATURES] = features[[rows[str(t)] for t in batch["text"]]]
    return batch


def with_text_features(
    datasets: dict[str, Any], text_model: str, max_words: int, concurrency: int = 1
) -> dict[str, Any]:
    """Every dataset of ``datasets`` with the ``text_features`` column, materialised in file order
    (the training blocks are cut by row position, so a resumed run sees the same order)."""
    import ray
    from ray.data import ActorPoolStrategy

    texts = _distinct_texts(datasets)
    encoded = ray.data.from_items([{"text": t} for t in texts]).map_batches(
        TextFeatureExtractor,
        fn_constructor_args=(text_model, max_words),
        batch_size=BATCH,
        batch_format="numpy",
        compute=ActorPoolStrategy(size=max(1, concurrency)),
    )
    rows: dict[str, int] = {}
    chunks = []
    for batch in encoded.iter_batches(batch_size=4096, batch_format="numpy"):
        rows.update((str(t), len(rows)) for t in batch["text"])
        chunks.append(np.asarray(batch[TEXT_FEATURES], np.float32))
    table_ref = [ray.put((rows, np.concatenate(chunks)))]  # in a list: Ray Data passes it as is
    out = {}
    for name, dataset in datasets.items():
        mapped = dataset.map_batches(_add_features, fn_args=(table_ref,), batch_format="numpy")
        options = mapped.context.execution_options
        preserve = options.preserve_order
        options.preserve_order = True
        try:
            out[name] = mapped.materialize()
        finally:
            options.preserve_order = preserve
    return out
