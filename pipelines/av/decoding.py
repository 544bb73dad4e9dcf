"""One listed video -> its track-segment rows, in a decoding actor.

    open the video (video.py: decord, else PyAV)          whole video rejected: stage open
    drop annotations after the video's end                each row rejected: stage annotations
    entity annotations -> tracks -> segments (tracks.py)
    read the soundtrack at 16 kHz mono around the tracks  whole video rejected: stage audio
      (audio.py; 1 s of margin, not the whole movie)
      track shorter than min_track_frames                 each segment rejected: stage track
      MFCC [4T, 13] of the segment (audio.py)             too little audio: stage audio
    face crops [T, S, S] of every kept segment (crops.py) frames unreadable: whole video, decode
    -> one row per segment (schema.py)

When decord opens a file but fails on its frames, the crops are retried once with PyAV.
Counting (``DecodedInput.read``): written segments + rejected segments + rejected annotation
rows; a video rejected as a whole counts once (the runner's rejection).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from crossmodal_ray.pipelines.av.audio import MfccConfig, SegmentMfcc, Soundtrack, read_soundtrack
from crossmodal_ray.pipelines.av.crops import CropConfig, crop_segments
from crossmodal_ray.pipelines.av.errors import (
    CorruptVideoError,
    ShortTrackError,
    TimestampBeyondVideoError,
)
from crossmodal_ray.pipelines.av.schema import av_sample_id
from crossmodal_ray.pipelines.av.tracks import Segment, entity_segments
from crossmodal_ray.pipelines.av.video import PyAVFrames, VideoFrames, open_video
from crossmodal_ray.pipelines.core.quarantine import (
    IngestError,
    at_stage,
    rejected_row,
    stage_of,
)
from crossmodal_ray.pipelines.core.source import DecodedInput, InputItem

# Annotations up to half a target frame past the last frame's end still belong to the video
# (timestamps are rounded to 2-3 decimals in AVA).
BEYOND_SLACK_FRAMES = 0.5
# Sound decoded before the first and after the last segment (a seek lands on a packet
# boundary; the decoder settles within a few frames).
AUDIO_MARGIN_S = 1.0


def audio_span(segments: list[Segment]) -> tuple[float, float | None]:
    """``(start_s, end_s)`` of the soundtrack the segments need, with a margin (the whole
    soundtrack when there is no segment, which still tells whether there is one)."""
    if not segments:
        return 0.0, None
    start = min(s.start_time for s in segments)
    end = max(s.start_time + s.count / s.track.fps for s in segments)
    return max(0.0, start - AUDIO_MARGIN_S), end + AUDIO_MARGIN_S


@dataclass(frozen=True)
class DecodeSettings:
    """What decoding a video needs (built from ``AVSourceConfig``)."""

    fps: float
    crop: CropConfig
    mfcc: MfccConfig
    max_gap_s: float
    max_segment_frames: int
    min_track_frames: int
    max_audio_pad_s: float
    video_threads: int


def payload_segments(
    item: InputItem, duration: float, settings: DecodeSettings
) -> tuple[list[Segment], list[dict]]:
    """The segments of every entity of the video, and the rejected annotation rows (after
    the video's end)."""
    payload = item.payload
    files = payload["files"]
    limit = duration + BEYOND_SLACK_FRAMES / settings.fps
    segments: list[Segment] = []
    rejected: list[dict] = []
    for entity_id, entity in payload["entities"].items():
        rows = np.asarray(entity["rows"], dtype=np.float64).reshape(-1, 8)
        sources = [f"{files[int(f)]}#line{int(line)}" for f, line in rows[:, 6:8]]
        beyond = rows[:, 0] > limit
        for j in np.flatnonzero(beyond):
            error = TimestampBeyondVideoError(
                f"timestamp {rows[j, 0]:g} s of entity {entity_id} is after the end of "
                f"{payload['video_id']} ({duration:.3f} s)"
            )
            rejected.append(rejected_row(sources[j], "annotations", error))
        keep = np.flatnonzero(~beyond)
        if keep.size == 0:
            continue
        segments += entity_segments(
            entity_id,
            rows[keep, 0],
            rows[keep, 1:5],
            rows[keep, 5].astype(np.int8),
            [sources[j] for j in keep],
            bool(entity["in_sync"]),
            settings.fps,
            settings.max_gap_s,
            settings.max_segment_frames,
        )
    return segments, rejected


def crops_with_fallback(
    video: VideoFrames, path: Path, segments: list[Segment], settings: DecodeSettings
) -> tuple[list[np.ndarray], str]:
    """The segments' crops; a decord decoding failure is retried once with PyAV."""
    try:
        return crop_segments(video, segments, settings.crop), video.backend
    except CorruptVideoError as decord_error:
        if video.backend != "decord":
            raise
        try:
            fallback = PyAVFrames(path)
            return crop_segments(fallback, segments, settings.crop), "pyav"
        except Exception:  # noqa: BLE001 - PyAV failed too: decord's reason stands
            raise decord_error from None


def segment_row(
    item: InputItem,
    segment: Segment,
    frames: np.ndarray,
    mfcc: np.ndarray,
    settings: DecodeSettings,
) -> dict:
    video_id = item.payload["video_id"]
    timestamps, frame_of = segment.label_points()
    return {
        "sample_id": av_sample_id(video_id, segment.track.entity_id, segment.index),
        "source": item.source,
        "video_id": video_id,
        "entity_id": segment.track.entity_id,
        "segment_index": segment.index,
        "start_time": segment.start_time,
        "fps": settings.fps,
        "num_frames": segment.count,
        "frame_size": settings.crop.frame_size,
        "frames": np.ascontiguousarray(frames, dtype=np.uint8).tobytes(),
        "mfcc": np.ascontiguousarray(mfcc, dtype="<f4").tobytes(),
        "labels": segment.labels().tolist(),
        "label_timestamps": timestamps.tolist(),
        "label_frames": frame_of.tolist(),
        "in_sync": segment.track.in_sync,
    }


def segment_features(
    item: InputItem, segments: list[Segment], sound: Soundtrack, settings: DecodeSettings
) -> tuple[list[tuple[Segment, np.ndarray]], list[dict]]:
    """The MFCC of every segment that is kept, and the rejected segments (short track, too
    little audio). Rows shared by overlapping segments are computed once (``SegmentMfcc``)."""
    kept, rejected = [], []
    features = SegmentMfcc(sound, settings.mfcc, settings.fps, settings.max_audio_pad_s)
    features.prepare(
        [
            (s.start_time, s.count)
            for s in segments
            if s.track.num_frames >= settings.min_track_frames
        ]
    )
    for segment in segments:
        entity_id = segment.track.entity_id
        try:
            if segment.track.num_frames < settings.min_track_frames:
                with at_stage("track"):
                    raise ShortTrackError(
                        f"track of {entity_id} from {segment.start_time:.3f} s has "
                        f"{segment.track.num_frames} frames at {settings.fps:g} fps, fewer "
                        f"than min_track_frames={settings.min_track_frames}"
                    )
            with at_stage("audio"):
                mfcc = features.segment(segment.start_time, segment.count)
        except IngestError as exc:
            rejected.append(
                rejected_row(
                    f"{item.source}#{entity_id}",
                    stage_of(exc, "track"),
                    exc,
                    start_s=segment.start_time,
                    sample_id=av_sample_id(item.payload["video_id"], entity_id, segment.index),
                )
            )
            continue
        kept.append((segment, mfcc))
    return kept, rejected


def decode_video(
    item: InputItem, root: Path, settings: DecodeSettings, schema: pa.Schema
) -> DecodedInput:
    """The rows of one video and its rejected segments and annotation rows."""
    path = root / item.source
    with at_stage("decode"):
        with at_stage("open"):
            video = open_video(path, settings.video_threads)
        try:
            segments, rejected_rows = payload_segments(item, video.duration, settings)
            with at_stage("audio"):
                sound = read_soundtrack(path, settings.mfcc.sample_rate, *audio_span(segments))
            kept, rejected_segments = segment_features(item, segments, sound, settings)
            crops, backend = crops_with_fallback(video, path, [s for s, _ in kept], settings)
        finally:
            video.close()
    rows = [
        segment_row(item, segment, frames, mfcc, settings)
        for (segment, mfcc), frames in zip(kept, crops, strict=True)
    ]
    return DecodedInput(
        rows=pa.Table.from_pylist(rows, schema=schema),
        rejected=rejected_rows + rejected_segments,
        info={
            "videos": 1,
            "segments": len(rows),
            "segments_rejected": len(rejected_segments),
            "segments_rejected_by_reason": dict(
                Counter(r["error_type"] for r in rejected_segments)
            ),
            "tracks": len({id(s.track) for s in segments}),
            "frames": sum(row["num_frames"] for row in rows),
            "speaking_frames": sum(sum(row["labels"]) for row in rows),
            "out_of_sync_segments": sum(not row["in_sync"] for row in rows),
            "annotation_rows": int(item.payload["rows"]),
            "annotation_rows_rejected": len(rejected_rows),
            "video_backend": {backend: 1},
            "audio_backend": {sound.backend: 1},
            "video_seconds": video.duration,
            "audio_seconds": sound.end_s - sound.start_s,
        },
    )
