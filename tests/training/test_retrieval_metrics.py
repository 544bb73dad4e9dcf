"""Recall@K of image-text retrieval: hand-checked rankings, ties against the query, and the
chance level matching a Monte-Carlo estimate of random rankings."""

from __future__ import annotations

import numpy as np
import pytest

from crossmodal_ray.training.metrics.retrieval import chance_recall_at_k, recall_at_k


def test_hand_checked_ranks():
    # 3 images, 4 captions: captions 0, 1 of image 0; 2 of image 1; 3 of image 2.
    caption_image = np.array([0, 0, 1, 2])
    s = np.array(
        [
            [0.1, 0.9, 0.5, 0.2],  # image 0: its caption 1 ranks first
            [0.8, 0.1, 0.3, 0.9],  # image 1: its caption 2 ranks third
            [0.1, 0.2, 0.3, 0.4],  # image 2: its caption 3 ranks first
        ]
    )
    r = recall_at_k(s, caption_image, ks=(1, 2, 3))
    assert r["i2t_r@1"] == pytest.approx(2 / 3)
    assert r["i2t_r@3"] == 1.0
    # Captions against images (ties count against the caption): caption 0's image scores 0.1,
    # below image 1 and tied with image 2 -> third; caption 1 -> first; caption 2's image 0.3,
    # below image 0 and tied with image 2 -> third; caption 3 -> second (image 1 is better).
    assert r["t2i_r@1"] == pytest.approx(1 / 4)
    assert r["t2i_r@2"] == pytest.approx(2 / 4)
    assert r["t2i_r@3"] == 1.0


def test_constant_scores_are_never_better_than_chance():
    caption_image = np.repeat(np.arange(10), 5)
    r = recall_at_k(np.zeros((10, 50)), caption_image)
    assert all(value == 0.0 for key, value in r.items() if not key.endswith("@10"))


def test_chance_matches_random_rankings():
    rng = np.random.default_rng(0)
    caption_image = np.repeat(np.arange(40), 5)
    runs = [recall_at_k(rng.random((40, 200)), caption_image) for _ in range(300)]
    chance = chance_recall_at_k(caption_image, 40)
    for key in runs[0]:
        assert np.mean([r[key] for r in runs]) == pytest.approx(chance[f"chance_{key}"], abs=0.01)
