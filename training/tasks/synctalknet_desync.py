"""The desynchronised evaluation set of SyncTalkNet (Wuerkaixi et al., MLSP 2022, section 4).

An active speaker is a face whose speech is heard *in sync* with its lips. The paper tests this
by corrupting the audio of speaking segments of the evaluation set and relabelling their frames
not-speaking: a model that only asks "is someone talking and does this mouth move" keeps calling
them speaking; one that checks synchronisation does not. Each speaking segment (one with at least
one speaking frame), with probability ``p``, gets one corruption of its MFCC [4T, 13]:

- ``shift``: rolled in time by half the segment (the same sound, out of step with the lips);
- ``flip``: reversed in time;
- ``repeat``: a chunk of at most 0.8 s (80 MFCC frames) from a random start tiled over the
  segment;
- ``silence``: every frame replaced by the MFCC of silence;
- ``swap``: the audio of a speaking segment of another video (tiled or cut to length).

Segments without speaking frames and those not drawn keep their audio and labels. The copy is a
pure function of the set of rows, ``p`` and the seed: the draws go through the segments in the
order of their key (video, entity, first timestamp), so the order in which a distributed read
returns the rows changes nothing, and every model of an ablation is scored on the same copy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

CORRUPTIONS = ("shift", "flip", "repeat", "silence", "swap")
MFCC_RATE_HZ = 100


@dataclass
class Segment:
    """One evaluation segment: its video, audio features and frame labels."""

    video_id: str
    frames: np.ndarray  # [T, H, W] uint8
    mfcc: np.ndarray  # [4T, 13]
    labels: np.ndarray  # [T]
    corruption: str = ""  # "" = as recorded
    in_sync: bool = True  # False: the corpus says its audio is out of sync (dubbed, shifted)
    entity_id: str = ""
    label_timestamps: np.ndarray = field(default_factory=lambda: np.zeros(0))  # AVA rows' times
    label_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # their frames


def segment_key(segment: Segment) -> tuple[str, str, float, int]:
    """Where a segment comes from: video, entity, first annotated timestamp, length."""
    first = float(segment.label_timestamps[0]) if len(segment.label_timestamps) else 0.0
    return segment.video_id, segment.entity_id, first, len(segment.labels)


def _tile_to(chunk: np.ndarray, length: int) -> np.ndarray:
    reps = -(-length // len(chunk))
    return np.concatenate([chunk] * reps)[:length]


def corrupt_audio(
    segment: Segment,
    kind: str,
    rng: np.random.Generator,
    silence: np.ndarray,
    donors: list[Segment],
) -> np.ndarray:
    """The MFCC of ``segment`` under corruption ``kind`` (see the module docstring)."""
    mfcc = segment.mfcc
    n = len(mfcc)
    if kind == "shift":
        return np.roll(mfcc, n // 2, axis=0)
    if kind == "flip":
        return mfcc[::-1].copy()
    if kind == "repeat":
        chunk = int(rng.integers(min(n, 20), min(n, int(0.8 * MFCC_RATE_HZ)) + 1))
        start = int(rng.integers(0, n - chunk + 1))
        return _tile_to(mfcc[start : start + chunk], n)
    if kind == "silence":
        return np.broadcast_to(silence.astype(mfcc.dtype), mfcc.shape).copy()
    if kind == "swap":
        others = [d for d in donors if d.video_id != segment.video_id]
        if not others:
            raise ValueError("swap needs a speaking segment of another video")
        return _tile_to(others[int(rng.integers(len(others)))].mfcc, n)
    raise ValueError(f"unknown corruption {kind!r}; choose from {CORRUPTIONS}")


def desynchronise(
    segments: list[Segment],
    p: float,
    kinds: tuple[str, ...],
    silence: np.ndarray,
    seed: int = 0,
) -> list[Segment]:
    """A copy of ``segments`` in which each speaking segment, with probability ``p``, gets one
    corruption drawn from ``kinds`` and all its frames labelled 0."""
    unknown = set(kinds) - set(CORRUPTIONS)
    if unknown or not kinds:
        raise ValueError(f"corruptions must be among {CORRUPTIONS}, got {kinds}")
    rng = np.random.default_rng(seed)
    order = sorted(range(len(segments)), key=lambda i: segment_key(segments[i]))
    donors = [segments[i] for i in order if segments[i].labels.max(initial=0) > 0]
    out = list(segments)
    for index in order:
        segment = segments[index]
        if segment.labels.max(initial=0) <= 0 or rng.random() >= p:
            continue
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind == "swap" and not any(d.video_id != segment.video_id for d in donors):
            kind = "shift"  # one video only: nothing to swap with
        mfcc = corrupt_audio(segment, kind, rng, silence, donors)
        labels = np.zeros_like(segment.labels)
        out[index] = dataclasses.replace(segment, mfcc=mfcc, labels=labels, corruption=kind)
    return out
