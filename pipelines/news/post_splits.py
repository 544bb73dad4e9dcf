"""Which split a news post goes to (``--split-by corpus | event``), never an event in two.

``event``: the corpus's own sets are ignored; each event (MediaEval) or post id (Weibo, which
has no events) is hashed into train / val / test by the runner (``InputItem.split = None``,
``pipelines/core/splits.py`` with ``--val-fraction``, ``--test-fraction``, ``--split-seed``).
This is what the real MediaEval download needs: only its test posts have local images, so the
corpus's own split would leave nothing to train on.

``corpus`` (default): the corpus's test set (MediaEval ``testset``, Weibo ``test_*``) is the
test split; the training set (``devset``, ``train_*``) is train, with a validation split carved
from its events (Weibo: post ids): exactly ``round(val_fraction * keys)`` of them (at least one
when there are two or more), the ones with the smallest ``unit_hash(key, split_seed)``. An
exact count rather than a threshold on the hash: a corpus has few events (MediaEval 2015: 11
in the devset), and a threshold at 0.15 leaves anywhere from none to a third of them in val
(the sample corpus's 32 training events gave one event, 157 posts: too few to choose a model
on). An event that has posts in the test set goes to test whole: a training post of such an
event is moved to test (counted and warned about), so no event is in two splits either way.
"""

from __future__ import annotations

from crossmodal_ray.pipelines.core.splits import check_fractions, unit_hash


def carve_val_keys(keys: set[str], val_fraction: float, split_seed: int | str) -> set[str]:
    """The ``round(val_fraction * len(keys))`` keys (at least one of two or more when
    ``val_fraction`` > 0) with the smallest hash: the validation keys of a training set."""
    check_fractions(val_fraction, 0.0)
    if val_fraction == 0 or len(keys) < 2:
        return set()
    count = min(len(keys) - 1, max(1, round(val_fraction * len(keys))))
    return set(sorted(keys, key=lambda k: (unit_hash(k, split_seed), k))[:count])


def corpus_splits(
    keys_and_sets: list[tuple[str, str]], val_fraction: float, split_seed: int | str
) -> tuple[list[str], int]:
    """The split of each ``(group key, corpus set)`` under ``--split-by corpus``.

    Returns:
        The splits in input order, and how many training posts moved to test with their event.
    """
    test_keys = {key for key, corpus_set in keys_and_sets if corpus_set == "test"}
    val_keys = carve_val_keys({k for k, _ in keys_and_sets} - test_keys, val_fraction, split_seed)
    splits, moved = [], 0
    for key, corpus_set in keys_and_sets:
        if corpus_set == "test" or key in test_keys:
            moved += int(corpus_set != "test")
            splits.append("test")
        else:
            splits.append("val" if key in val_keys else "train")
    return splits, moved
