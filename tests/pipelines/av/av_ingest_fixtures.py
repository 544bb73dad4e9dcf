"""Small real media for the AV ingest tests, written with PyAV: h264 video (flat frames whose
grey level encodes the frame number, optionally a bright face box), AAC audio (a tone with
clicks at chosen times), and AVA-style CSV lines."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

WIDTH, HEIGHT = 160, 120
AUDIO_RATE = 16000
# Grey level of source frame i: distinct steps that survive h264 on flat frames.
LEVEL_STEP = 4
LEVEL_BASE = 16


def frame_level(i: int) -> int:
    return LEVEL_BASE + (i * LEVEL_STEP) % (256 - 2 * LEVEL_BASE)


def draw_frame(i: int, box: tuple[float, float, float, float] | None) -> np.ndarray:
    """Flat grey ``frame_level(i)``; a white box (normalised x1, y1, x2, y2) when given."""
    img = np.full((HEIGHT, WIDTH, 3), frame_level(i), dtype=np.uint8)
    if box is not None:
        x1, y1, x2, y2 = box
        img[int(y1 * HEIGHT) : int(y2 * HEIGHT), int(x1 * WIDTH) : int(x2 * WIDTH)] = 250
    return img


def tone(seconds: float, rate: int = AUDIO_RATE, clicks: tuple[float, ...] = ()) -> np.ndarray:
    """A quiet 220 Hz tone with 10 ms bursts of a loud 1 kHz tone at ``clicks`` (seconds)."""
    t = np.arange(int(round(seconds * rate))) / rate
    signal = 0.05 * np.sin(2 * np.pi * 220 * t)
    for click in clicks:
        on = (t >= click) & (t < click + 0.01)
        signal[on] = 0.8 * np.sin(2 * np.pi * 1000 * t[on])
    return signal.astype(np.float32)


def write_video(
    path: Path,
    frames: int = 50,
    fps: int = 25,
    audio_seconds: float | None = None,
    box: tuple[float, float, float, float] | None = None,
    frame_times: list[float] | None = None,
    clicks: tuple[float, ...] = (),
    codecs: tuple[str, str] = ("libx264", "aac"),
) -> Path:
    """A video of ``frames`` frames (h264 in mp4; ``codecs`` for others, e.g. VP9 + Opus in
    webm) and, unless ``audio_seconds == 0``, a sound track of ``audio_seconds`` (default: as
    long as the video). ``frame_times`` (seconds) makes the frame rate variable."""
    audio_seconds = frames / fps if audio_seconds is None else audio_seconds
    with av.open(str(path), "w") as container:
        video = container.add_stream(codecs[0], rate=fps)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        if frame_times is not None:
            video.codec_context.time_base = Fraction(1, 1000)
        audio = None
        if audio_seconds > 0:
            audio = container.add_stream(codecs[1], rate=AUDIO_RATE)
            audio.layout = "mono"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(draw_frame(i, box), format="rgb24")
            if frame_times is not None:
                frame.pts, frame.time_base = round(frame_times[i] * 1000), Fraction(1, 1000)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None:
            samples = tone(audio_seconds, clicks=clicks)
            for start in range(0, len(samples), 1024):
                chunk = samples[start : start + 1024][None].copy()
                frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                frame.sample_rate, frame.pts = AUDIO_RATE, start
                for packet in audio.encode(frame):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)
    return path


def truncated_copy(source: Path, target: Path, keep: float = 0.5) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return target


def csv_line(
    video_id: str,
    t: float,
    box: tuple[float, float, float, float] = (0.3, 0.2, 0.6, 0.7),
    label: str = "SPEAKING_AUDIBLE",
    entity: str | None = None,
) -> str:
    x1, y1, x2, y2 = box
    return f"{video_id},{t:.2f},{x1},{y1},{x2},{y2},{label},{entity or video_id + ':0'}"


def track_lines(
    video_id: str,
    start: float,
    stop: float,
    step: float = 0.04,
    entity: str | None = None,
    box: tuple[float, float, float, float] = (0.3, 0.2, 0.6, 0.7),
    label: str = "SPEAKING_AUDIBLE",
) -> list[str]:
    """Annotation lines every ``step`` s from ``start`` to ``stop`` (inclusive)."""
    count = int(round((stop - start) / step)) + 1
    return [csv_line(video_id, start + k * step, box, label, entity) for k in range(count)]
