"""Which split a news post goes to (``--split-by corpus | event``), never an event in two.

``event``: the corpus's own sets are ignored; each event (MediaEval) or post id (Weibo, which
has no events) is hashed into train / val / test by the runner (``InputItem.split = None``,
``pipelines/core/splits.py`` with ``--val-fraction``, ``--test-fraction``, ``--split-seed``).
This is what the real MediaEval download needs: only its test posts have local images, so the
corpus's own split would leave nothing to train on.

``corpus`` (default): the corpus's test set (MediaEval ``testset``, Weibo ``test_*``) is the
test split; the training set (``devset``, ``train_*``) is train, with a validation split carved
from its events (Weibo: post ids) by the same hash, ``--val-fraction`` of the keys. An event
that has posts in the test set goes to test whole: a training post of such an event is moved
to test (counted and warned about), so no event is in two splits either way.
"""

from __future__ import annotations

from crossmodal_ray.pipelines.core.splits import split_of_key


def corpus_splits(
    keys_and_sets: list[tuple[str, str]], val_fraction: float, split_seed: int | str
) -> tuple[list[str], int]:
    """The split of each ``(group key, corpus set)`` under ``--split-by corpus``.

    Returns:
        The splits in input order, and how many training posts moved to test with their event.
    """
    test_keys = {key for key, corpus_set in keys_and_sets if corpus_set == "test"}
    splits, moved = [], 0
    for key, corpus_set in keys_and_sets:
        if corpus_set == "test" or key in test_keys:
            moved += int(corpus_set != "test")
            splits.append("test")
        else:
            splits.append(split_of_key(key, val_fraction, 0.0, split_seed))
    return splits, moved
