"""Face tracks and their segments: an entity's annotations -> tracks at 25 fps -> segments.

An entity's annotations (sorted by time) form one track, split wherever two consecutive
annotations are more than ``max_gap_s`` apart (the face left the shot). A track starting at its
first annotation t0 and ending at its last t1 has frames at ``t0 + k / fps`` for
``k = 0 .. floor((t1 - t0) * fps)``; each frame's label is the label of the nearest annotation
(earlier on ties), and each annotation belongs to the frame nearest to it.

A track is cut into ``ceil(T / max_frames)`` segments of as equal lengths as possible (a 260-frame
track gives 130 + 130, not 250 + 10: TalkNet trains on whole tracks, so short tails would be the
odd ones out). Segments are numbered over the entity, across gap splits, so
``(video_id, entity_id, segment_index)`` names a segment whatever else is rejected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Slack when counting frames in a span, so 0.04 * 25 frames is 1 and not 0.9999.
FRAME_EPS = 1e-6


def nearest_indices(sorted_times: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index of the nearest element of ``sorted_times`` to each query (earlier on ties)."""
    sorted_times = np.asarray(sorted_times, dtype=np.float64)
    query = np.asarray(query, dtype=np.float64)
    right = np.clip(np.searchsorted(sorted_times, query), 1, len(sorted_times) - 1)
    if len(sorted_times) == 1:
        return np.zeros(query.shape, dtype=np.int64)
    left = right - 1
    choose_right = (sorted_times[right] - query) < (query - sorted_times[left])
    return np.where(choose_right, right, left).astype(np.int64)


def gap_runs(times: np.ndarray, max_gap_s: float) -> list[tuple[int, int]]:
    """``[start, stop)`` index runs of sorted ``times`` with no step above ``max_gap_s``."""
    cuts = np.flatnonzero(np.diff(np.asarray(times, dtype=np.float64)) > max_gap_s) + 1
    edges = [0, *cuts.tolist(), len(times)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def segment_bounds(num_frames: int, max_frames: int) -> list[tuple[int, int]]:
    """``(first, count)`` of the near-equal segments of a ``num_frames`` track."""
    pieces = max(1, math.ceil(num_frames / max_frames))
    edges = [round(i * num_frames / pieces) for i in range(pieces + 1)]
    return [(a, b - a) for a, b in zip(edges[:-1], edges[1:], strict=True)]


@dataclass
class Track:
    """One gap-free run of an entity's annotations.

    Attributes:
        entity_id: The AVA entity.
        times: Annotated instants, ascending, ``[n]``.
        boxes: Normalised boxes ``[n, 4]``.
        speaking: Labels ``[n]`` (1 SPEAKING_AUDIBLE, else 0).
        sources: Where each annotation came from (``<csv>#line<N>``), for rejections.
        in_sync: The track's sync label.
        fps: Frame rate of the track's frames.
    """

    entity_id: str
    times: np.ndarray
    boxes: np.ndarray
    speaking: np.ndarray
    sources: list[str]
    in_sync: bool
    fps: float

    @property
    def num_frames(self) -> int:
        return int(math.floor((self.times[-1] - self.times[0]) * self.fps + FRAME_EPS)) + 1

    def frame_times(self, first: int, count: int) -> np.ndarray:
        return self.times[0] + (first + np.arange(count, dtype=np.float64)) / self.fps

    def annotation_frames(self) -> np.ndarray:
        """The track frame nearest to each annotation."""
        frames = np.rint((self.times - self.times[0]) * self.fps).astype(np.int64)
        return np.clip(frames, 0, self.num_frames - 1)


@dataclass
class Segment:
    """Frames ``first .. first + count - 1`` of a track; ``index`` numbers it in its entity."""

    track: Track
    index: int
    first: int
    count: int

    @property
    def start_time(self) -> float:
        return float(self.track.times[0] + self.first / self.track.fps)

    def frame_times(self) -> np.ndarray:
        return self.track.frame_times(self.first, self.count)

    def labels(self) -> np.ndarray:
        """Per-frame labels ``[count]`` int8, from the nearest annotation."""
        nearest = nearest_indices(self.track.times, self.frame_times())
        return self.track.speaking[nearest].astype(np.int8)

    def label_points(self) -> tuple[np.ndarray, np.ndarray]:
        """The annotation timestamps of this segment and their frame (0 .. count - 1)."""
        frames = self.track.annotation_frames()
        inside = (frames >= self.first) & (frames < self.first + self.count)
        return self.track.times[inside], (frames[inside] - self.first).astype(np.int32)


def entity_segments(
    entity_id: str,
    times: np.ndarray,
    boxes: np.ndarray,
    speaking: np.ndarray,
    sources: list[str],
    in_sync: bool,
    fps: float,
    max_gap_s: float,
    max_frames: int,
) -> list[Segment]:
    """Every segment of one entity (annotations sorted by time), numbered from 0."""
    segments: list[Segment] = []
    for start, stop in gap_runs(times, max_gap_s):
        track = Track(
            entity_id,
            times[start:stop],
            boxes[start:stop],
            speaking[start:stop],
            sources[start:stop],
            in_sync,
            fps,
        )
        for first, count in segment_bounds(track.num_frames, max_frames):
            segments.append(Segment(track, len(segments), first, count))
    return segments
