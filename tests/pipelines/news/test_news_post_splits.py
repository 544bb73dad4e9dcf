"""``--split-by corpus``: the corpus's test set stays test, events of the test set never leak
into train or val, and validation is an exact share of the training events."""

from __future__ import annotations

from crossmodal_ray.pipelines.core.splits import unit_hash
from crossmodal_ray.pipelines.news.post_splits import carve_val_keys, corpus_splits


def test_val_is_the_exact_share_of_training_keys_with_the_smallest_hash():
    keys = {f"event{i}" for i in range(32)}
    val = carve_val_keys(keys, 0.15, 10)
    assert len(val) == 5  # round(0.15 * 32)
    largest_val = max(unit_hash(k, 10) for k in val)
    assert all(unit_hash(k, 10) > largest_val for k in keys - val)
    assert carve_val_keys(keys, 0.15, 10) == val  # stable
    assert carve_val_keys(keys, 0.15, 11) != val  # the seed draws another carve
    assert len(carve_val_keys({"a", "b"}, 0.01, 0)) == 1  # never empty with two keys
    assert carve_val_keys({"a"}, 0.5, 0) == set()  # never the only training key
    assert carve_val_keys(keys, 0.0, 0) == set()


def test_corpus_splits_keep_the_test_set_and_move_its_events_whole():
    rows = [(f"e{i % 12}", "train") for i in range(120)] + [("e0", "test"), ("t1", "test")]
    splits, moved = corpus_splits(rows, 0.2, 3)
    by_key: dict[str, set[str]] = {}
    for (key, _), split in zip(rows, splits, strict=True):
        by_key.setdefault(key, set()).add(split)
    assert all(len(s) == 1 for s in by_key.values())  # no event in two splits
    assert by_key["e0"] == by_key["t1"] == {"test"}
    assert moved == 10  # e0's ten training posts went to test with their event
    val_events = [k for k, s in by_key.items() if s == {"val"}]
    assert len(val_events) == 2  # round(0.2 * 11 training events)
