"""Write an mp4 with PyAV: h264 video (yuv420p, constant frame rate) and AAC mono audio, the
format of AVA's and most web videos, readable by decord, PyAV and ffmpeg alike.

Audio and video are interleaved frame by frame (each video frame's 1/fps seconds of audio
follows it), so the file streams. The mp4 muxer writes an edit list for the AAC encoder delay,
so decoders (PyAV, decord) return the first sample at time 0: audio and picture line up to the
sample.

The same frames and samples give the same bytes: x264 runs single-threaded with fixed options
and nothing time-dependent is written. Two things had to go for that, both found by encoding
the same frames twice in one process and getting different bytes depending on what the process
had done before (freed memory, a decode): PyAV's swscale rgb24 -> yuv420p conversion (the frames
are converted here instead: BT.601, limited range, 2x2 chroma means) and x264's assembly
(``asm=0``: about 0.5 ms more per 192x144 frame, 2-3 s over the default corpus).
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# BT.601 RGB -> Y'CbCr, limited range (Y 16..235, Cb/Cr 16..240): what decoders assume for
# standard-definition video without colour tags.
BT601 = (
    np.array(
        [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]],
        np.float32,
    )
    / 255.0
)


def rgb_to_yuv420p(frame: np.ndarray) -> np.ndarray:
    """[H, W, 3] uint8 RGB (H, W even) -> [H * 3 / 2, W] uint8 planar Y, then Cb, then Cr at
    half resolution, the layout ``av.VideoFrame.from_ndarray(..., format="yuv420p")`` takes."""
    height, width = frame.shape[:2]
    rgb = frame.astype(np.float32)
    luma = 16.0 + rgb @ BT601[0]
    pooled = rgb.reshape(height // 2, 2, width // 2, 2, 3).mean(axis=(1, 3))
    cb = 128.0 + pooled @ BT601[1]
    cr = 128.0 + pooled @ BT601[2]
    planes = [luma, cb.reshape(height // 4, width), cr.reshape(height // 4, width)]
    return np.concatenate([np.clip(p + 0.5, 0.0, 255.0).astype(np.uint8) for p in planes])


def write_mp4(
    path: str | Path,
    frames: Iterable[np.ndarray],
    audio: np.ndarray,
    fps: int,
    sample_rate: int,
    crf: int = 20,
    audio_bit_rate: int = 48000,
) -> int:
    """Encode ``frames`` ([H, W, 3] uint8 RGB, H and W even) and mono ``audio`` (float32 in [-1, 1], exactly
    ``sample_rate / fps`` samples per frame) to ``path``; returns the frames written.

    Raises:
        ValueError: the audio is shorter than the frames need.
    """
    per_frame = sample_rate // fps
    container = av.open(str(path), mode="w", format="mp4")
    try:
        video = container.add_stream(
            "libx264",
            rate=fps,
            options={
                "crf": str(crf),
                "preset": "veryfast",
                "g": str(2 * fps),
                "threads": "1",
                "x264-params": "asm=0",  # byte-identical output (see the module docstring)
            },
        )
        video.pix_fmt = "yuv420p"
        video.codec_context.time_base = Fraction(1, fps)
        sound = container.add_stream("aac", rate=sample_rate, layout="mono")
        sound.bit_rate = audio_bit_rate
        written = 0
        for frame in frames:
            if written == 0:
                video.height, video.width = frame.shape[:2]
            picture = av.VideoFrame.from_ndarray(rgb_to_yuv420p(frame), format="yuv420p")
            picture.pts = written
            container.mux(video.encode(picture))
            chunk = audio[written * per_frame : (written + 1) * per_frame]
            if chunk.shape[0] != per_frame:
                raise ValueError(f"audio ends before frame {written} ({audio.shape[0]} samples)")
            samples = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(chunk, np.float32)[None, :], format="fltp", layout="mono"
            )
            samples.sample_rate = sample_rate
            samples.pts = written * per_frame
            container.mux(sound.encode(samples))
            written += 1
        container.mux(video.encode(None))
        container.mux(sound.encode(None))
    finally:
        container.close()
    return written
