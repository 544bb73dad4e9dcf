"""Channel grouping by spectral inter-modal distance on synthetic wearable windows."""

from __future__ import annotations

import json

import numpy as np

from crossmodal_ray.models.mbsl.channel_grouping import (
    ChannelGrouping,
    group_channels,
    inter_modal_distance,
)

FS = 32.0
T = 256
ECG, PPG, RESP, ACC_X, ACC_Y, ACC_Z, SPO2 = range(7)


def synthetic_windows(n: int = 48, seed: int = 0) -> np.ndarray:
    """[n, 7, T] windows: ECG/PPG share a heart rhythm, acc axes share a gait, resp, slow SpO2."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) / FS
    out = np.zeros((n, 7, T), np.float32)
    for w in range(n):
        hr_hz = rng.uniform(1.0, 2.5)
        beats = np.arange(rng.uniform(0, 1 / hr_hz), t[-1] + 1, 1 / hr_hz)
        ecg = sum(np.exp(-0.5 * ((t - b) / 0.02) ** 2) for b in beats)  # sharp R peaks
        lag = rng.uniform(0.15, 0.3)  # pulse transit time
        ppg = sum(np.exp(-0.5 * ((t - b - lag) / 0.12) ** 2) for b in beats)  # smooth pulse
        rr_hz = rng.uniform(0.15, 0.45)
        resp = np.sin(2 * np.pi * rr_hz * t + rng.uniform(0, 2 * np.pi))
        step_hz = rng.uniform(0.8, 3.0) if rng.random() < 0.7 else 0.0
        gait = np.sin(2 * np.pi * step_hz * t) + 0.5 * np.sin(4 * np.pi * step_hz * t + 1.0)
        gait = gait * (step_hz > 0) + np.cumsum(rng.normal(0, 0.05, T))  # plus posture drift
        axes = rng.normal(size=3)
        spo2 = 96 + np.cumsum(rng.normal(0, 0.02, T)) + 0.3 * np.sin(2 * np.pi * 0.02 * t)
        out[w, ECG] = ecg + rng.normal(0, 0.05, T)
        out[w, PPG] = ppg + 0.1 * resp + rng.normal(0, 0.05, T)
        out[w, RESP] = resp + rng.normal(0, 0.1, T)
        for i, ch in enumerate((ACC_X, ACC_Y, ACC_Z)):
            out[w, ch] = axes[i] * gait + rng.normal(0, 0.1, T)
        out[w, SPO2] = spo2
    return out


def _group_of(groups: list[list[int]], channel: int) -> int:
    return next(i for i, g in enumerate(groups) if channel in g)


def test_distance_matrix_properties_and_cardiac_vs_motion():
    d = inter_modal_distance(synthetic_windows(), None, FS)
    assert d.shape == (7, 7)
    assert np.allclose(d, d.T) and np.allclose(np.diag(d), 0)
    assert (d >= 0).all() and (d <= 1).all()
    acc = [ACC_X, ACC_Y, ACC_Z]
    assert d[ECG, PPG] < min(d[ECG, a] for a in acc)
    assert d[ECG, PPG] < min(d[PPG, a] for a in acc)
    assert max(d[a, b] for a in acc for b in acc) < min(d[a, ECG] for a in acc)


def test_grouping_keeps_acc_axes_together_and_apart_from_cardiac():
    d = inter_modal_distance(synthetic_windows(), None, FS)
    groups = group_channels(d)  # automatic count
    assert len(groups) >= 2
    assert sorted(c for g in groups for c in g) == list(range(7))
    acc_group = _group_of(groups, ACC_X)
    assert _group_of(groups, ACC_Y) == acc_group == _group_of(groups, ACC_Z)
    assert _group_of(groups, ECG) != acc_group and _group_of(groups, PPG) != acc_group
    assert _group_of(groups, ECG) == _group_of(groups, PPG)
    for k in (2, 3, 4):
        assert len(group_channels(d, n_groups=k)) == k


def test_absent_channel_windows_are_skipped():
    x = synthetic_windows(n=24)
    present = np.ones((24, 7), bool)
    present[:12, PPG] = False
    corrupted = x.copy()
    corrupted[:12, PPG] = np.random.default_rng(1).normal(size=(12, T))  # garbage when absent
    d_clean = inter_modal_distance(x[12:], None, FS)
    d_masked = inter_modal_distance(corrupted, present, FS)
    assert np.allclose(d_clean[PPG], d_masked[PPG])
    # A channel never present: maximal distance, never grouped with anything by accident.
    present[:, SPO2] = False
    d_none = inter_modal_distance(x, present, FS)
    assert np.allclose(np.delete(d_none[SPO2], SPO2), 1.0)


def test_channel_grouping_round_trip():
    names = ("ecg", "ppg", "resp", "acc_x", "acc_y", "acc_z", "spo2")
    grouping = ChannelGrouping.fit(synthetic_windows(n=24), None, FS, channel_names=names)
    restored = ChannelGrouping.from_dict(json.loads(json.dumps(grouping.to_dict())))
    assert restored.groups == grouping.groups
    assert restored.method == grouping.method and restored.channel_names == names
    assert np.allclose(restored.distance, grouping.distance)
    assert restored.as_tuple() == tuple(tuple(g) for g in grouping.groups)
    assert ["acc_x", "acc_y", "acc_z"] in restored.named_groups()
