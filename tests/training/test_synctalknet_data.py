"""SyncTalkNet's collate (variable-length segments padded and masked) and the desynchronised
evaluation copy (each corruption does what the paper says, relabels, and is seeded)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from crossmodal_ray.training.metrics.ava_map import frame_metrics
from crossmodal_ray.training.tasks.synctalknet_collate import (
    IGNORE_LABEL,
    collate_segments,
    segment_arrays,
)
from crossmodal_ray.training.tasks.synctalknet_desync import (
    CORRUPTIONS,
    Segment,
    corrupt_audio,
    desynchronise,
)
from crossmodal_ray.training.tasks.synctalknet_evaluation import speaking_scores, sync_metrics


def _row(t: int, size: int = 8, speaking: bool = True, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "frames": rng.integers(0, 255, (t, size, size), dtype=np.uint8).tobytes(),
        "mfcc": rng.normal(size=(4 * t, 13)).astype("<f4").tobytes(),
        "labels": np.array([int(speaking)] * t, np.int8),
        "num_frames": np.int32(t),
        "frame_size": np.int32(size),
    }


def test_collate_pads_to_the_longest_and_masks():
    rows = [_row(5, seed=1), _row(9, seed=2, speaking=False), _row(3, seed=3)]
    batch = {k: np.array([r[k] for r in rows], dtype=object) for k in rows[0]}
    out = collate_segments(batch)
    assert out["visual"].shape == (3, 9, 8, 8) and out["audio"].shape == (3, 36, 13)
    assert out["mask"].sum(1).tolist() == [5, 9, 3]
    assert (out["labels"][~out["mask"]] == IGNORE_LABEL).all()
    assert out["labels"][0, :5].tolist() == [1] * 5 and out["labels"][1, :9].tolist() == [0] * 9
    frames, mfcc, _ = segment_arrays(rows[2])
    assert np.array_equal(out["visual"][2, :3].numpy(), frames)
    assert np.array_equal(out["audio"][2, :12].numpy(), mfcc)
    assert (out["audio"][2, 12:] == 0).all() and (out["visual"][2, 3:] == 0).all()


def _segment(video: str, t: int, speaking: bool, seed: int) -> Segment:
    rng = np.random.default_rng(seed)
    mfcc = rng.normal(size=(4 * t, 13)).astype(np.float32)
    return Segment(video, np.zeros((t, 4, 4), np.uint8), mfcc, np.full(t, int(speaking)))


def test_each_corruption():
    rng = np.random.default_rng(0)
    seg = _segment("a", 50, True, 1)
    silence = np.arange(13, dtype=np.float32)
    donor = _segment("b", 20, True, 2)
    shifted = corrupt_audio(seg, "shift", rng, silence, [donor])
    assert np.array_equal(shifted[100:], seg.mfcc[:100])
    assert np.array_equal(corrupt_audio(seg, "flip", rng, silence, [donor]), seg.mfcc[::-1])
    repeated = corrupt_audio(seg, "repeat", rng, silence, [donor])
    # a chunk of <= 0.8 s (80 rows) of the segment, tiled: the rows repeat with its period
    period = next(p for p in range(20, 81) if np.array_equal(repeated[p:], repeated[:-p]))
    assert period <= 80 and any(
        np.array_equal(repeated[:period], seg.mfcc[s : s + period]) for s in range(200 - period)
    )
    assert (corrupt_audio(seg, "silence", rng, silence, [donor]) == silence).all()
    swapped = corrupt_audio(seg, "swap", rng, silence, [donor, seg])
    assert np.array_equal(swapped[:80], donor.mfcc) and np.array_equal(swapped[80:160], donor.mfcc)


def test_desynchronise_relabels_only_corrupted_speaking_segments():
    segments = [_segment(f"v{i % 4}", 30, speaking=i % 3 != 0, seed=i) for i in range(60)]
    silence = np.zeros(13, np.float32)
    out = desynchronise(segments, 0.5, CORRUPTIONS, silence, seed=3)
    assert len(out) == len(segments)
    corrupted = [o for o in out if o.corruption]
    assert 10 < len(corrupted) < 30  # about half of the 40 speaking segments
    assert {o.corruption for o in corrupted} == set(CORRUPTIONS)
    for before, after in zip(segments, out, strict=True):
        if after.corruption:
            assert before.labels.max() == 1 and after.labels.max() == 0
            assert not np.array_equal(before.mfcc, after.mfcc)
        else:
            assert after is before
    again = desynchronise(segments, 0.5, CORRUPTIONS, silence, seed=3)
    assert [o.corruption for o in again] == [o.corruption for o in out]
    every = desynchronise(segments, 1.0, ("flip",), silence)
    assert [o.corruption for o in every] == ["flip" if s.labels.max() else "" for s in segments]


def test_unknown_corruption_is_refused():
    with pytest.raises(ValueError, match="corruptions"):
        desynchronise([], 0.5, ("echo",), np.zeros(13))


class _AudioEnergyModel:
    """Scores a frame by its MFCC's first coefficient (a model that only listens)."""

    training = False

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self

    def __call__(self, visual, audio, mask):
        energy = audio[..., 0].reshape(audio.shape[0], -1, 4).mean(-1)
        return {"speaking_probability": torch.sigmoid(energy) * mask}


def test_sync_metrics_clean_is_in_sync_tracks_and_desync_is_built_from_them():
    rng = np.random.default_rng(0)
    segments = []
    for i in range(40):
        speaking = i % 2 == 0
        mfcc = rng.normal(size=(80, 13)).astype(np.float32)
        mfcc[:, 0] += 3.0 if speaking else -3.0  # loud when speaking: a listening model is perfect
        labels = np.full(20, int(speaking))
        in_sync = i < 30
        if not in_sync:
            labels[:] = 0  # a dubbed track: loud, but not an active speaker
        segments.append(
            Segment(f"v{i}", np.zeros((20, 4, 4), np.uint8), mfcc, labels, in_sync=in_sync)
        )
    silence = np.full(13, -9.0, np.float32)
    metrics = sync_metrics(
        _AudioEnergyModel(), segments, torch.device("cpu"), silence, 0.5, copies=1
    )
    assert metrics["clean"]["frames"] == 30 * 20 and metrics["clean"]["auc"] == 1.0
    assert metrics["recorded"]["frames"] == 40 * 20 and metrics["recorded"]["auc"] < 1.0
    assert metrics["recorded"]["out_of_sync_segments"] == 10
    # about half of the 15 in-sync speaking tracks corrupted; a model that only listens is
    # fooled by every corruption but silence
    assert 3 <= metrics["desync"]["corrupted_segments"] <= 12
    assert metrics["desync"]["auc"] < 0.95
    # only the corrupted segments were rescored: the same as scoring the whole copy
    copy = desynchronise([s for s in segments if s.in_sync], 0.5, CORRUPTIONS, silence, 0)
    whole = frame_metrics(
        np.concatenate([s.labels for s in copy]),
        np.concatenate(speaking_scores(_AudioEnergyModel(), copy, torch.device("cpu"))),
    )
    assert whole["auc"] == metrics["desync"]["auc"] and whole["ap"] == metrics["desync"]["ap"]
    # several copies pool their frames: each copy is drawn with the next seed
    pooled = sync_metrics(
        _AudioEnergyModel(), segments, torch.device("cpu"), silence, 0.5, copies=3
    )
    assert pooled["desync"]["frames"] == 3 * 30 * 20 and pooled["desync"]["copies"] == 3
    in_sync = [s for s in segments if s.in_sync]
    draws = [desynchronise(in_sync, 0.5, CORRUPTIONS, silence, k) for k in range(3)]
    assert pooled["desync"]["corrupted_segments"] == sum(
        bool(s.corruption) for copy in draws for s in copy
    )
    # sync AUC: speaking frames with their own audio against the same frames corrupted. The
    # listening model keeps loud corrupted audio loud (shift, flip, repeat, swap: ties, 0.5)
    # and only silence lowers it; a model that scores every frame alike sits at 0.5.
    assert 0.5 <= pooled["desync"]["sync_auc"] < 0.9
    with pytest.raises(ValueError, match="copies"):
        sync_metrics(_AudioEnergyModel(), segments, torch.device("cpu"), silence, copies=0)


def test_desynchronised_copy_does_not_depend_on_the_order_of_the_rows():
    """Ray Data may return the rows in any order: every model must be scored on one copy."""
    segments = [
        dataclasses.replace(
            _segment(f"v{i % 5}", 30, speaking=i % 3 != 0, seed=i), entity_id=f"v{i % 5}:{i}"
        )
        for i in range(40)
    ]
    silence = np.zeros(13, np.float32)
    forward = desynchronise(segments, 0.5, CORRUPTIONS, silence, seed=7)
    backward = desynchronise(segments[::-1], 0.5, CORRUPTIONS, silence, seed=7)
    by_entity = {s.entity_id: s for s in backward}
    for segment in forward:
        other = by_entity[segment.entity_id]
        assert segment.corruption == other.corruption
        assert np.array_equal(segment.mfcc, other.mfcc)


class _ConstantModel(_AudioEnergyModel):
    def __call__(self, visual, audio, mask):
        return {"speaking_probability": torch.full(mask.shape, 0.7) * mask}


def test_sync_auc_is_chance_for_a_model_blind_to_synchronisation():
    rng = np.random.default_rng(1)
    segments = [
        Segment(
            f"v{i}",
            np.zeros((20, 4, 4), np.uint8),
            rng.normal(size=(80, 13)).astype(np.float32),
            np.full(20, i % 2),
            entity_id=f"v{i}:0",
        )
        for i in range(20)
    ]
    metrics = sync_metrics(_ConstantModel(), segments, torch.device("cpu"), np.zeros(13), 0.5)
    assert metrics["desync"]["corrupted_segments"] > 0
    assert metrics["desync"]["sync_auc"] == 0.5
