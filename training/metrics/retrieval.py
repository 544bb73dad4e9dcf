"""Cross-modal retrieval Recall@K with its chance level (image-text, any two modalities).

Given the similarity ``S[i, c]`` of every query image ``i`` to every caption ``c`` and which
image each caption belongs to (``caption_image[c]``; an image may own several captions, as in
COCO's five):

- image -> text R@K: the share of images with at least one of their own captions among the K
  captions most similar to them;
- text -> image R@K: the share of captions whose image is among the K most similar images.

Ties are broken against the query (a correct item tied with wrong ones ranks after them), so a
constant similarity scores no better than chance. Chance levels are exact for a random
ranking: text -> image ``K / N_images``; image -> text ``1 - C(N_c - m, K) / C(N_c, K)``
averaged over images with ``m`` captions each.
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_KS = (1, 5, 10)


def _correct_rank(scores: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Per row, the 0-based rank of its best correct column, ties counted against it."""
    best_correct = np.where(correct, scores, -np.inf).max(axis=1)
    wrong_at_least_as_good = ((scores >= best_correct[:, None]) & ~correct).sum(axis=1)
    return wrong_at_least_as_good


def recall_at_k(
    similarity: np.ndarray, caption_image: np.ndarray, ks: tuple[int, ...] = DEFAULT_KS
) -> dict[str, float]:
    """``i2t_r@K`` and ``t2i_r@K`` for every K, in [0, 1].

    Args:
        similarity: [N_images, N_captions] scores (higher = more similar).
        caption_image: [N_captions] int, the row of each caption's image.
        ks: the K values.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    caption_image = np.asarray(caption_image, dtype=np.int64)
    n_images, n_captions = similarity.shape
    if caption_image.shape != (n_captions,):
        raise ValueError(f"caption_image must have {n_captions} entries")
    owns = caption_image[None, :] == np.arange(n_images)[:, None]  # N_i x N_c
    has_caption = owns.any(axis=1)
    i2t_rank = _correct_rank(similarity[has_caption], owns[has_caption])
    t2i_rank = _correct_rank(similarity.T, owns.T)
    out: dict[str, float] = {}
    for k in ks:
        out[f"i2t_r@{k}"] = float(np.mean(i2t_rank < k))
        out[f"t2i_r@{k}"] = float(np.mean(t2i_rank < k))
    return out


def chance_recall_at_k(
    caption_image: np.ndarray, n_images: int, ks: tuple[int, ...] = DEFAULT_KS
) -> dict[str, float]:
    """Expected R@K of a random ranking (same keys as :func:`recall_at_k`, ``chance_`` prefix)."""
    caption_image = np.asarray(caption_image, dtype=np.int64)
    n_captions = len(caption_image)
    per_image = np.bincount(caption_image, minlength=n_images)
    per_image = per_image[per_image > 0]
    out: dict[str, float] = {}
    for k in ks:
        k_c = min(k, n_captions)
        miss = [
            math.comb(n_captions - m, k_c) / math.comb(n_captions, k_c)
            if n_captions - m >= k_c
            else 0.0
            for m in per_image
        ]
        out[f"chance_i2t_r@{k}"] = float(1.0 - np.mean(miss))
        out[f"chance_t2i_r@{k}"] = float(min(k, n_images) / n_images)
    return out
