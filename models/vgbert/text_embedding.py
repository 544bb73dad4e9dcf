"""Sentence embeddings from a (grounded) BERT-family text encoder: mean of its word features.

``embed(texts, encoder_dir)`` loads an exported grounded language stream (or any BERT folder)
with transformers alone and averages the last-layer features over the real words (attention
mask without [CLS]/[SEP]), the words VG-BERT's eq. 1 grounds.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import nn


@lru_cache(maxsize=2)
def _load(path: str) -> tuple[Any, nn.Module]:
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    encoder = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return tokenizer, encoder


@torch.no_grad()
def mean_word_features(
    encoder: nn.Module, tokenizer: Any, texts: list[str], max_words: int = 32
) -> np.ndarray:
    """[N, d] float32: each text's last-layer features averaged over its real words."""
    tokens = tokenizer(
        list(texts),
        padding=True,
        truncation=True,
        max_length=max_words,
        return_special_tokens_mask=True,
        return_tensors="pt",
    )
    words = (tokens["attention_mask"].bool() & ~tokens["special_tokens_mask"].bool()).float()
    hidden = encoder(
        input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
    ).last_hidden_state
    pooled = (hidden * words[..., None]).sum(1) / words.sum(1, keepdim=True).clamp_min(1.0)
    return pooled.float().numpy()


def embed(texts: list[str], encoder_dir: str, max_words: int = 32) -> np.ndarray:
    """Embeddings of ``texts`` from the text encoder folder ``encoder_dir``."""
    tokenizer, encoder = _load(str(encoder_dir))
    return mean_word_features(encoder, tokenizer, texts, max_words)
