"""Train/val/test splits by a group key (subject, event, video): hashed, stable, leak-free.

Rows of one group are strongly correlated (one body, one news event, one video), so splitting
by row would leak between training and evaluation; every row of a group goes to one split.

The split of a key is a pure function of the key, the salt and the fractions::

    u = int(sha256(f"{salt}:{key}"))[:64 bits] / 2**64        # uniform in [0, 1)
    split = "test" if u < test_fraction else "val" if u < test_fraction + val_fraction else "train"

so a key keeps its split across re-runs, machines and Python versions, and across adding new
keys: re-ingesting a grown corpus never moves an old subject from training into the test set
(which a shuffle-then-cut split would). The price: on a handful of keys the shares only
approximate the fractions, and a small corpus can leave val or test empty; the ingest reports
the per-split key counts in its manifest, and ``salt`` (``--split-seed``) draws another split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

SPLITS: tuple[str, ...] = ("train", "val", "test")


def unit_hash(key: str, salt: str | int = 0) -> float:
    """A number in [0, 1) that depends only on ``salt`` and ``key``."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise ValueError(f"bad split fractions val={val_fraction} test={test_fraction}")


def split_of_key(
    key: str, val_fraction: float = 0.15, test_fraction: float = 0.15, salt: str | int = 0
) -> str:
    """``train``, ``val`` or ``test`` for one group key (see the module docstring)."""
    check_fractions(val_fraction, test_fraction)
    u = unit_hash(key, salt)
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def assign_splits(
    keys: Iterable[str],
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    salt: str | int = 0,
) -> dict[str, str]:
    """key -> split for every distinct key (order and duplicates do not matter)."""
    return {key: split_of_key(key, val_fraction, test_fraction, salt) for key in set(keys)}
