"""Group-key splits: a key's split depends on the key alone, so it never moves."""

from __future__ import annotations

from collections import Counter

import pytest

from crossmodal_ray.pipelines.core.splits import assign_splits, split_of_key


def test_a_key_keeps_its_split_when_the_corpus_grows():
    old = [f"subject-{i}" for i in range(200)]
    grown = old + [f"new-{i}" for i in range(5000)]
    before = assign_splits(old, 0.15, 0.15, salt=3)
    after = assign_splits(reversed(grown), 0.15, 0.15, salt=3)
    assert {key: after[key] for key in old} == before  # no old key moved
    assert assign_splits(old + old, 0.15, 0.15, salt=3) == before  # order, duplicates: no matter


def test_shares_follow_the_fractions_on_many_keys():
    split = assign_splits([f"k{i}" for i in range(20_000)], val_fraction=0.1, test_fraction=0.2)
    shares = {name: n / 20_000 for name, n in Counter(split.values()).items()}
    assert shares["train"] == pytest.approx(0.7, abs=0.015)
    assert shares["val"] == pytest.approx(0.1, abs=0.015)
    assert shares["test"] == pytest.approx(0.2, abs=0.015)


def test_salt_draws_another_split_and_zero_fractions_mean_train():
    keys = [f"S{i:02d}" for i in range(1, 41)]
    assert assign_splits(keys, salt=0) != assign_splits(keys, salt=1)
    assert set(assign_splits(keys, 0.0, 0.0).values()) == {"train"}
    assert split_of_key("S01", 0.15, 0.15, salt=10) == split_of_key("S01", 0.15, 0.15, salt=10)


def test_default_seed_splits_the_sample_corpus_14_3_3():
    # The documented default (--split-seed 10) on the 20-subject sample corpus S01..S20.
    split = assign_splits([f"S{i:02d}" for i in range(1, 21)], 0.15, 0.15, salt=10)
    assert Counter(split.values()) == {"train": 14, "val": 3, "test": 3}


@pytest.mark.parametrize("val,test", [(-0.1, 0.1), (0.5, 0.5), (0.2, 0.9)])
def test_bad_fractions_are_refused(val, test):
    with pytest.raises(ValueError, match="bad split fractions"):
        split_of_key("a", val, test)
