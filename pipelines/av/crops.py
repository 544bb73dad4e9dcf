"""Face crops of track segments: every 25 fps frame -> the nearest video frame -> the TalkNet
crop window of the interpolated box (``boxes.py``) -> grayscale -> ``frame_size`` squared.

All segments of a video are cropped in one pass over the video: each needed source frame is
decoded once (in index order, a chunk at a time) and every crop that falls on it is cut out,
so overlapping faces in the same shot cost one decode. Grayscale is ITU-R 601 luma (PIL's
``L``, the weights of OpenCV's ``BGR2GRAY`` that TalkNet uses); resizing is bilinear.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from crossmodal_ray.pipelines.av.boxes import (
    OUT_OF_FRAME_MODES,
    PAD_VALUE,
    clamp_windows,
    interpolate_boxes,
    pixel_windows,
    talknet_crop_windows,
    to_pixels,
)
from crossmodal_ray.pipelines.av.tracks import Segment, nearest_indices
from crossmodal_ray.pipelines.av.video import VideoFrames


@dataclass(frozen=True)
class CropConfig:
    """How a face becomes a crop.

    Attributes:
        frame_size: Side of the square grayscale crop (TalkNet: 112).
        crop_scale: TalkNet's ``cropScale`` cs (0.4): the crop is 2 * bs * (1 + cs) wide.
        out_of_frame: ``clamp`` (window cut to the frame) or ``pad`` (TalkNet's grey 110).
    """

    frame_size: int = 112
    crop_scale: float = 0.4
    out_of_frame: str = "clamp"

    def __post_init__(self) -> None:
        if self.frame_size < 1:
            raise ValueError(f"frame_size must be positive, got {self.frame_size}")
        if self.crop_scale < 0:
            raise ValueError(f"crop_scale must be >= 0, got {self.crop_scale}")
        if self.out_of_frame not in OUT_OF_FRAME_MODES:
            raise ValueError(f"out_of_frame must be one of {OUT_OF_FRAME_MODES}")


@dataclass
class CropPlan:
    """Per frame of a segment: the source frame index and the pixel crop window."""

    sources: np.ndarray  # [T] int64
    windows: np.ndarray  # [T, 4] int64 (left, top, right, bottom)


def plan_crops(segment: Segment, video: VideoFrames, config: CropConfig) -> CropPlan:
    times = segment.frame_times()
    sources = nearest_indices(video.start_times, times)
    track = segment.track
    boxes = to_pixels(interpolate_boxes(track.times, track.boxes, times), video.width, video.height)
    windows = talknet_crop_windows(boxes, config.crop_scale)
    if config.out_of_frame == "clamp":
        windows = clamp_windows(windows, video.width, video.height)
    else:
        windows = pixel_windows(windows)
    return CropPlan(sources, windows)


def crop_face(frame: np.ndarray, window: np.ndarray, config: CropConfig) -> np.ndarray:
    """The ``[S, S]`` uint8 grayscale crop of an RGB frame ``[H, W, 3]``."""
    left, top, right, bottom = (int(v) for v in window)
    height, width = frame.shape[:2]
    inner = frame[max(0, top) : min(height, bottom), max(0, left) : min(width, right)]
    if inner.size == 0:  # pad mode, window entirely off the frame
        face = Image.new("L", (right - left, bottom - top), PAD_VALUE)
    else:
        face = Image.fromarray(np.ascontiguousarray(inner)).convert("L")
        if (right - left, bottom - top) != face.size:  # pad mode: grey around the frame
            canvas = Image.new("L", (right - left, bottom - top), PAD_VALUE)
            canvas.paste(face, (max(0, -left), max(0, -top)))
            face = canvas
    size = config.frame_size
    return np.asarray(face.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def crop_segments(
    video: VideoFrames, segments: list[Segment], config: CropConfig
) -> list[np.ndarray]:
    """The ``[T, S, S]`` uint8 crops of every segment, in one pass over the video."""
    plans = [plan_crops(segment, video, config) for segment in segments]
    size = config.frame_size
    out = [np.zeros((s.count, size, size), dtype=np.uint8) for s in segments]
    if not plans:
        return out
    sources = np.concatenate([p.sources for p in plans])
    owner = np.concatenate([np.full(s.count, i) for i, s in enumerate(segments)])
    position = np.concatenate([np.arange(s.count) for s in segments])
    order = np.argsort(sources, kind="stable")
    sources, owner, position = sources[order], owner[order], position[order]
    wanted, starts = np.unique(sources, return_index=True)
    stops = [*starts[1:].tolist(), len(sources)]
    where = dict(zip(wanted.tolist(), zip(starts.tolist(), stops, strict=True), strict=True))
    done = 0
    for index, frame in video.rgb_frames(wanted):
        start, stop = where[index]
        for j in range(start, stop):
            seg, k = int(owner[j]), int(position[j])
            out[seg][k] = crop_face(frame, plans[seg].windows[k], config)
        done += 1
    if done != len(wanted):
        raise AssertionError(f"the video reader gave {done} of {len(wanted)} frames")
    return out
