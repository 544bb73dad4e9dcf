"""``labels_from_table`` (vectorised over windows) against a plain per-window reference loop,
on tables with NaN and inf rates, missing seconds, unknown activities and tied majorities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crossmodal_ray.pipelines.physio.labels import RecordLabelTable, labels_from_table


def reference_labels(table: RecordLabelTable, starts_s: np.ndarray, window_s: float) -> dict:
    """The module docstring's rules, one window at a time."""
    n = starts_s.size
    out = {
        "hr_bpm": np.full(n, np.nan),
        "rr_bpm": np.full(n, np.nan),
        "activity": np.full(n, -1, dtype=np.int8),
        "apnea": np.full(n, -1, dtype=np.int8),
    }
    for i, t0 in enumerate(starts_s):
        inside = (table.t_s >= t0 - 1e-9) & (table.t_s < t0 + window_s - 1e-9)
        if not inside.any():
            continue
        for name in ("hr_bpm", "rr_bpm"):
            finite = getattr(table, name)[inside]
            finite = finite[np.isfinite(finite)]
            out[name][i] = finite.mean() if finite.size else math.nan
        values, counts = np.unique(table.activity[inside], return_counts=True)
        out["activity"][i] = values[np.argmax(counts)]  # ties: the smaller value
        apnea = table.apnea[inside]
        if (apnea >= 0).any():
            out["apnea"][i] = int((apnea == 1).sum() >= 0.5 * inside.sum())
    return out


@pytest.mark.parametrize("seed", range(40))
def test_vectorised_labels_match_the_per_window_rules(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 50))
    t_s = np.sort(rng.choice(np.arange(0.0, 80.0, 0.5), size=n, replace=False))
    hr = rng.normal(70, 5, n)
    hr[rng.random(n) < 0.3] = np.nan
    rr = rng.normal(15, 2, n)
    rr[rng.random(n) < 0.4] = np.inf if seed % 2 else np.nan
    table = RecordLabelTable(
        t_s=t_s,
        hr_bpm=hr,
        rr_bpm=rr,
        activity=rng.integers(-1, 3, n).astype(np.int8),
        apnea=rng.integers(-1, 2, n).astype(np.int8),
    )
    starts_s = np.arange(0.0, rng.uniform(0.5, 90.0), float(rng.choice([0.5, 1.0, 2.0])))
    window_s = float(rng.choice([1.0, 3.5, 8.0]))
    got = labels_from_table(table, starts_s, window_s)
    want = reference_labels(table, starts_s, window_s)
    for name in ("activity", "apnea"):
        assert got[name].dtype == np.int8 and np.array_equal(got[name], want[name]), name
    for name in ("hr_bpm", "rr_bpm"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, equal_nan=True)


def test_label_table_survives_its_wire_form():
    table = RecordLabelTable(
        t_s=np.array([0.0, 1.0, 2.0]),
        hr_bpm=np.array([60.5, np.nan, np.inf]),
        rr_bpm=np.array([12.0, 13.0, -1.0]),
        activity=np.array([-1, 0, 3], dtype=np.int8),
        apnea=np.array([1, 0, -1], dtype=np.int8),
        subjects=("s1", "s2"),
    )
    back = RecordLabelTable.from_json(table.to_json())
    for name in ("t_s", "hr_bpm", "rr_bpm", "activity", "apnea"):
        a, b = getattr(table, name), getattr(back, name)
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), name
    assert back.subjects == ("s1", "s2")
