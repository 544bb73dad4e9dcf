"""Video frames with their own timestamps: decord first, PyAV for what decord cannot open.

Both readers give the frames' presentation start times in seconds (``start_times``, display
order; from decord's ``get_frame_timestamp`` or PyAV's packet timestamps), so resampling to
25 fps picks, for each target time, the frame whose timestamp is nearest: variable frame rate
and 29.97 fps sources come out right, where ``index / fps`` would drift. Frames are RGB uint8
``[H, W, 3]``, decoded in index order a chunk at a time (a whole 1080p segment at once would
be gigabytes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from crossmodal_ray.pipelines.av.errors import (
    CorruptVideoError,
    EmptyVideoError,
    NoVideoStreamError,
)

# Frames decoded per decord call (about 100 MB of RGB at 1080p).
CHUNK_FRAMES = 16


class VideoFrames(Protocol):
    backend: str
    width: int
    height: int
    start_times: np.ndarray  # [N] seconds, ascending
    duration: float  # end of the last frame, seconds

    def rgb_frames(self, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """``(index, frame)`` for the ascending, unique ``indices``."""
        ...

    def close(self) -> None: ...


def frame_duration(start_times: np.ndarray) -> float:
    """The typical frame duration (median step), for the last frame's end."""
    steps = np.diff(start_times)
    steps = steps[steps > 0]
    return float(np.median(steps)) if steps.size else 0.04


class DecordFrames:
    """decord's ``VideoReader`` on the CPU."""

    backend = "decord"

    def __init__(self, path: Path, threads: int = 1) -> None:
        import decord

        self.reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=threads)
        count = len(self.reader)
        if count == 0:
            raise EmptyVideoError(f"{path.name} has no video frames")
        stamps = np.asarray(self.reader.get_frame_timestamp(np.arange(count)), np.float64)
        self.start_times = stamps[:, 0]
        if np.any(np.diff(self.start_times) < 0):
            raise CorruptVideoError(f"{path.name}: frame timestamps out of order")
        self.height, self.width = self.reader[0].shape[:2]
        self.reader.seek(0)
        end = max(stamps[-1, 1], stamps[-1, 0] + frame_duration(self.start_times))
        self.duration = float(end)

    def rgb_frames(self, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        indices = np.asarray(indices, dtype=np.int64)
        for start in range(0, len(indices), CHUNK_FRAMES):
            chunk = indices[start : start + CHUNK_FRAMES]
            try:
                batch = self.reader.get_batch(chunk.tolist()).asnumpy()
            except Exception as exc:  # decord raises its own DECORDError / RuntimeError
                raise CorruptVideoError(
                    f"decord cannot decode frames {chunk[0]}..{chunk[-1]}: {exc}"
                ) from exc
            yield from zip(chunk.tolist(), batch, strict=True)

    def close(self) -> None:
        del self.reader


class PyAVFrames:
    """PyAV (FFmpeg) decoding of the first video stream, for files decord cannot open."""

    backend = "pyav"

    def __init__(self, path: Path) -> None:
        import av

        self.path = path
        with av.open(str(path)) as container:
            if not container.streams.video:
                audio = " (an audio-only file)" if container.streams.audio else ""
                raise NoVideoStreamError(f"{path.name} has no video stream{audio}")
            stream = container.streams.video[0]
            pts = [p.pts for p in container.demux(stream) if p.pts is not None and p.size > 0]
            self.width, self.height = stream.codec_context.width, stream.codec_context.height
            time_base = float(stream.time_base)
        if not pts:
            raise EmptyVideoError(f"{path.name} has no video frames")
        self.pts = np.unique(np.asarray(pts, dtype=np.int64))
        self.start_times = self.pts * time_base
        self.duration = float(self.start_times[-1] + frame_duration(self.start_times))

    def rgb_frames(self, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        import av

        wanted = {int(self.pts[i]): int(i) for i in np.asarray(indices, dtype=np.int64)}
        last = max(wanted) if wanted else None
        found = 0
        try:
            with av.open(str(self.path)) as container:
                for frame in container.decode(video=0):
                    index = wanted.get(frame.pts)
                    if index is not None:
                        found += 1
                        yield index, frame.to_ndarray(format="rgb24")
                    if frame.pts is not None and frame.pts >= last:
                        break
        except av.FFmpegError as exc:
            raise CorruptVideoError(f"PyAV cannot decode {self.path.name}: {exc}") from exc
        if found < len(wanted):
            raise CorruptVideoError(
                f"{self.path.name}: PyAV decoded {found} of the {len(wanted)} frames wanted "
                f"(truncated stream?)"
            )

    def close(self) -> None:
        pass


def open_video(path: Path, threads: int = 1) -> VideoFrames:
    """decord's reader of ``path``, else PyAV's; raises when neither can open it.

    Raises:
        EmptyVideoError: zero frames (or an empty file).
        NoVideoStreamError: no video stream (an audio-only file named as a video).
        CorruptVideoError: neither decord nor PyAV can open it (truncated, not a video).
    """
    if path.stat().st_size == 0:
        raise EmptyVideoError(f"{path.name} is an empty file (0 bytes)")
    try:
        return DecordFrames(path, threads)
    except EmptyVideoError:
        raise
    except Exception as decord_error:  # noqa: BLE001 - decord failed: PyAV decides
        try:
            return PyAVFrames(path)
        except (EmptyVideoError, NoVideoStreamError, CorruptVideoError):
            raise
        except Exception as pyav_error:  # noqa: BLE001 - both failed: one clear reason
            raise CorruptVideoError(
                f"{path.name} is not a readable video (truncated, corrupt or not a video "
                f"file): neither decord ({first_line(decord_error)}) nor PyAV "
                f"({first_line(pyav_error)}) can open it"
            ) from pyav_error


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]
