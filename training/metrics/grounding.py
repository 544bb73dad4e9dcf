"""Object retrieval and relation accuracy (VG-BERT stage 2), each with its chance level.

Object retrieval (phrase -> its object among the image's annotated objects): the phrase's
attention map over regions ``a`` [R] puts a mass on each candidate box ``m`` of its image,
``mass_m = sum_r a_r * cover_m,r`` (``cover``: the share of region ``r``'s cell the box covers).
The phrase is retrieved when its own box gets a larger mass than every other box of the image
(ties count as misses). Chance: ``1 / n_objects`` of the image (a uniform pick among its boxes).
Images with a single usable object are left out (retrieval among one box is not a test).

Pointing (the "pointing game" of Zhang et al., ECCV 2016): the most attended region's cell
overlaps the box. Chance: the share of the image's cells that the box overlaps.

Relation Acc@K: the annotated predicate is among the K highest-scoring of the vocabulary's
``P`` predicates (ties against it). Chance ``min(K, P) / P``; the majority baseline predicts
the K predicates most frequent in training.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def object_retrieval_hits(
    attention: np.ndarray, cover: np.ndarray, object_image: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per phrase with at least one rival box: hit (bool) and chance, as two arrays."""
    hits, chance = [], []
    for image in np.unique(object_image):
        rows = np.flatnonzero(object_image == image)
        if len(rows) < 2:
            continue
        mass = attention[rows] @ cover[rows].T  # [phrase, candidate box]
        own = np.diag(mass)
        rival = np.where(np.eye(len(rows), dtype=bool), -np.inf, mass).max(axis=1)
        hits.append(own > rival)
        chance.append(np.full(len(rows), 1.0 / len(rows)))
    if not hits:
        return np.zeros(0, bool), np.zeros(0)
    return np.concatenate(hits), np.concatenate(chance)


def pointing_hits(attention: np.ndarray, cover: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per phrase: whether the argmax region overlaps its box, and that event's chance."""
    if len(attention) == 0:
        return np.zeros(0, bool), np.zeros(0)
    top = attention.argmax(axis=1)
    hits = cover[np.arange(len(cover)), top] > 0
    return hits, (cover > 0).mean(axis=1)


def topk_hits(scores: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """Whether each row's target is among its k best scores (ties counted against it)."""
    if len(scores) == 0:
        return np.zeros(0, bool)
    target_score = scores[np.arange(len(scores)), targets]
    others = scores >= target_score[:, None]
    others[np.arange(len(scores)), targets] = False
    return others.sum(axis=1) < k


def relation_chance(num_predicates: int, k: int) -> float:
    return min(k, num_predicates) / num_predicates


def majority_hits(targets: np.ndarray, train_counts: Mapping[int, int], k: int) -> np.ndarray:
    """Whether each target is among the k predicates most frequent in training."""
    ranked = sorted(train_counts, key=lambda p: (-train_counts[p], p))[:k]
    return np.isin(targets, ranked)


def mean_or_nan(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")
