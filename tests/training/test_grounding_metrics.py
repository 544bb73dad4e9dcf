"""Stage-2 metrics: object retrieval by attention mass among the image's boxes, pointing, and
relation Acc@K with ties counted against, chance levels and the majority baseline."""

from __future__ import annotations

import numpy as np
import pytest

from crossmodal_ray.training.metrics.grounding import (
    majority_hits,
    object_retrieval_hits,
    pointing_hits,
    relation_chance,
    topk_hits,
)
from crossmodal_ray.training.tasks.vgbert_grounding_collate import cell_coverage


def test_cell_coverage_is_the_share_of_each_cell_under_the_box():
    cover = cell_coverage(np.array([[8.0, 0.0, 16.0, 16.0], [0.0, 0.0, 64.0, 64.0]]), 64)
    assert cover.shape == (2, 16)
    assert cover[0, 0] == pytest.approx(0.5) and cover[0, 1] == pytest.approx(0.5)
    assert cover[0].sum() == pytest.approx(1.0)  # box area 256 px = one cell
    assert np.allclose(cover[1], 1.0)
    row_major = cell_coverage(np.array([[16.0, 32.0, 16.0, 16.0]]), 64)
    assert row_major[0].argmax() == 2 * 4 + 1


def test_object_retrieval_picks_the_box_with_most_attention_and_skips_lone_objects():
    cover = np.zeros((5, 4))
    cover[0, 0] = cover[1, 1] = cover[2, 2] = cover[3, 3] = cover[4, 0] = 1.0
    attention = np.array(
        [
            [0.7, 0.1, 0.1, 0.1],  # image 0, phrase 0: its box (cell 0) wins -> hit
            [0.7, 0.1, 0.1, 0.1],  # image 0, phrase 1: the rival's box wins -> miss
            [0.25, 0.25, 0.25, 0.25],  # image 0, phrase 2: a tie with its rivals -> miss
            [0.0, 0.0, 0.0, 1.0],  # image 1, alone -> left out
            [1.0, 0.0, 0.0, 0.0],  # image 2, alone -> left out
        ]
    )
    hits, chance = object_retrieval_hits(attention, cover, np.array([0, 0, 0, 1, 2]))
    assert hits.tolist() == [True, False, False]
    assert np.allclose(chance, 1 / 3)


def test_pointing_hits_and_chance():
    cover = np.array([[1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.2]])
    attention = np.array([[0.1, 0.6, 0.2, 0.1], [0.9, 0.0, 0.0, 0.1]])
    hits, chance = pointing_hits(attention, cover)
    assert hits.tolist() == [True, False] and chance.tolist() == [0.5, 0.25]


def test_topk_counts_ties_against_the_target():
    scores = np.array([[3.0, 1.0, 2.0], [1.0, 1.0, 1.0], [0.0, 5.0, 4.0]])
    targets = np.array([0, 1, 2])
    assert topk_hits(scores, targets, 1).tolist() == [True, False, False]
    assert topk_hits(scores, targets, 2).tolist() == [True, False, True]
    assert topk_hits(scores, targets, 3).tolist() == [True, True, True]


def test_relation_chance_and_majority_baseline():
    assert relation_chance(6, 1) == pytest.approx(1 / 6)
    assert relation_chance(6, 5) == pytest.approx(5 / 6)
    assert relation_chance(3, 5) == 1.0
    counts = {0: 10, 1: 30, 2: 30, 3: 5}
    assert majority_hits(np.array([1, 2, 0]), counts, 1).tolist() == [True, False, False]
    assert majority_hits(np.array([1, 2, 0]), counts, 2).tolist() == [True, True, False]
