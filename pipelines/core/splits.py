"""Deterministic by-subject train/val/test split: no subject's windows in two splits.

Windows of one subject are strongly correlated (same body, same sensors), so a by-window split
would leak; splitting by subject is what the MBSL evaluation (and PPG-DaLiA's leave-subjects-out
protocol) assumes.
"""

from __future__ import annotations

import numpy as np

SPLITS: tuple[str, ...] = ("train", "val", "test")


def split_subjects(
    subjects: list[str] | set[str],
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> dict[str, str]:
    """Assign each subject to ``train``, ``val`` or ``test``.

    Subjects are sorted, then shuffled by ``numpy.random.default_rng(seed)``, so the result
    depends only on the set of subjects and the seed. The first ``round(n * test_fraction)`` go
    to test, the next ``round(n * val_fraction)`` to val, the rest to train. With 3 or more
    subjects val and test get at least one each (when their fraction is > 0) and train keeps at
    least one; with 2 subjects: one train, one test; with 1: train only.

    Args:
        subjects: Subject ids (duplicates are ignored).
        val_fraction: Share of subjects for validation.
        test_fraction: Share of subjects for test.
        seed: Seed of the shuffle.

    Returns:
        subject -> split name.
    """
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise ValueError(f"bad split fractions val={val_fraction} test={test_fraction}")
    ordered = sorted(set(subjects))
    n = len(ordered)
    shuffled = [ordered[i] for i in np.random.default_rng(seed).permutation(n)]
    if n >= 3:
        n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
        n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
        while n_test + n_val > n - 1:  # keep one subject for training
            if n_val >= n_test and n_val > 0:
                n_val -= 1
            else:
                n_test -= 1
    elif n == 2:
        n_test, n_val = (1 if test_fraction > 0 else 0), 0
    else:
        n_test = n_val = 0
    assignment = {}
    for i, subject in enumerate(shuffled):
        assignment[subject] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return assignment
