"""Small real media for the AV ingest tests, written with PyAV: h264 video (flat frames whose
grey level encodes the frame number, optionally a bright face box; or bars that spell the frame
number in binary), AAC audio (a tone with clicks at chosen times), audio-only files, and
AVA-style CSV lines."""

from __future__ import annotations

import wave
from collections.abc import Callable
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


CODE_BITS = 8  # frame numbers 0..255
CODE_DARK, CODE_BRIGHT = 16, 235


def code_frame(i: int) -> np.ndarray:
    """Frame ``i`` as ``CODE_BITS`` vertical bars side by side across the whole picture, bar b
    bright when bit b of ``i`` is set, else dark: the number survives h264, grayscale, scaling
    and any crop spanning the frame's width (:func:`read_code`)."""
    bar = WIDTH // CODE_BITS
    img = np.full((HEIGHT, WIDTH, 3), CODE_DARK, dtype=np.uint8)
    for bit in range(CODE_BITS):
        if (i >> bit) & 1:
            img[:, bit * bar : (bit + 1) * bar] = CODE_BRIGHT
    return img


def read_code(crop: np.ndarray) -> int:
    """The frame number :func:`code_frame` drew, from a grayscale crop ``[S, S]`` of the whole
    frame (the middle of each bar, the middle half of its height)."""
    height, width = crop.shape
    centres = ((np.arange(CODE_BITS) + 0.5) * width / CODE_BITS).astype(int)
    bars = crop[height // 4 : 3 * height // 4, centres].mean(axis=0)
    threshold = (CODE_DARK + CODE_BRIGHT) / 2
    return int(sum(1 << bit for bit, level in enumerate(bars) if level > threshold))


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
    paint: Callable[[int], np.ndarray] | None = None,
) -> Path:
    """A video of ``frames`` frames (h264 in mp4; ``codecs`` for others, e.g. VP9 + Opus in
    webm) and, unless ``audio_seconds == 0``, a sound track of ``audio_seconds`` (default: as
    long as the video). ``frame_times`` (seconds) makes the frame rate variable; ``paint(i)``
    draws frame i (RGB ``[HEIGHT, WIDTH, 3]``) instead of the grey level and ``box``. With
    ``frames=0`` (and a sound track) the video stream holds no frame (in .mkv: FFmpeg's mp4 muxer
    leaves an empty track out, the file is then audio only)."""
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
            picture = paint(i) if paint is not None else draw_frame(i, box)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            if frame_times is not None:
                frame.pts, frame.time_base = round(frame_times[i] * 1000), Fraction(1, 1000)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None:
            encode_tone(container, audio, audio_seconds, clicks)
    return path


def encode_tone(container, audio, seconds: float, clicks: tuple[float, ...] = ()) -> None:
    """Encode :func:`tone` into the ``audio`` stream of an open output ``container``."""
    samples = tone(seconds, clicks=clicks)
    for start in range(0, len(samples), 1024):
        chunk = samples[start : start + 1024][None].copy()
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, start
        for packet in audio.encode(frame):
            container.mux(packet)
    for packet in audio.encode():
        container.mux(packet)


def write_audio_only(path: Path, seconds: float = 1.0, codec: str = "aac") -> Path:
    """A file with one audio stream and no video stream (an ``.m4a`` named as the video)."""
    with av.open(str(path), "w", format="mp4") as container:
        audio = container.add_stream(codec, rate=AUDIO_RATE)
        audio.layout = "mono"
        encode_tone(container, audio, seconds)
    return path


def write_wav(path: Path, seconds: float = 1.0) -> Path:
    """16-bit mono PCM WAV of :func:`tone` (the stdlib ``wave`` writer), whatever the name."""
    pcm = np.round(tone(seconds) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(AUDIO_RATE)
        out.writeframes(pcm.tobytes())
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
