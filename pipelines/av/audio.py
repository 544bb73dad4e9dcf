"""The soundtrack at 16 kHz mono, and TalkNet's MFCC features of a segment at 100 Hz.

Decoding: PyAV (FFmpeg 7: decode + ``AudioResampler`` to 16 kHz mono float, silence prepended
when the stream starts after time 0), else decord's ``AudioReader(path, sample_rate=16000,
mono=True)`` padded to start at time 0. PyAV comes first because it honours the codec delay
(encoder priming) of AAC and Opus tracks in Matroska/WebM, which decord 0.6's FFmpeg does not:
measured on a click written at 1.000 s, decord reads it at 1.064 s from AAC in mkv (1024
priming samples, 1.6 video frames late) and at 1.008 s from Opus in webm; PyAV at 1.000 s in
mp4, mkv and webm alike (``tests/pipelines/av/test_av_video_decode.py``). For sync-aware active
speaker detection a constant 64 ms shift is exactly the error to avoid. A video without an audio
stream is rejected (``NoAudioTrackError``): active speaker detection needs the sound.

MFCC (TalkNet's ``python_speech_features.mfcc(audio, 16000, numcep=13, winlen=0.025,
winstep=0.010)``, here with librosa): 13 coefficients (DCT-II of the log mel power in dB, no
clipping) over 25 ms windows (400 samples) every 10 ms (160 samples), FFT of 512 points and 26
mel filters as ``python_speech_features``, so 4 MFCC rows per 25 fps video frame. Row j of a
segment starting at time s analyses the samples ``[s + j * 10 ms, s + j * 10 ms + 25 ms)``
(``center=False``; the window sits centred in its 512-point FFT frame, so the frames are taken
from 56 samples before s), so rows ``4k .. 4k + 3`` start inside video frame k, and a segment
of T frames has exactly 4T rows. The last window
reaches 15 ms past the segment; where the soundtrack ends earlier, up to ``max_pad_s`` (+ those
15 ms) is filled by repeating the last sample, beyond that the segment is rejected
(``AudioTooShortError``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossmodal_ray.pipelines.av.errors import (
    AudioTooShortError,
    CorruptAudioError,
    CorruptVideoError,
    NoAudioTrackError,
)
from crossmodal_ray.pipelines.av.video import first_line


@dataclass(frozen=True)
class MfccConfig:
    """MFCC settings (TalkNet's, in samples at ``sample_rate``).

    Attributes:
        sample_rate: Audio rate in Hz (16 kHz).
        n_mfcc: Coefficients per row (13).
        win_length: Analysis window (400 samples = 25 ms).
        hop_length: Step between rows (160 samples = 10 ms, 100 rows per second).
        n_fft: FFT size (512, ``python_speech_features``' default; >= win_length).
        n_mels: Mel filters (26, ``python_speech_features``' default).
    """

    sample_rate: int = 16000
    n_mfcc: int = 13
    win_length: int = 400
    hop_length: int = 160
    n_fft: int = 512
    n_mels: int = 26

    def rows_per_frame(self, fps: float) -> int:
        """MFCC rows per video frame (4 at 25 fps); must be a whole number."""
        rows = self.sample_rate / self.hop_length / fps
        if abs(rows - round(rows)) > 1e-9 or round(rows) < 1:
            raise ValueError(
                f"sample_rate / hop_length / fps = {rows:g} MFCC rows per video frame: "
                f"must be a whole number"
            )
        return int(round(rows))


@dataclass
class Soundtrack:
    """Mono float32 samples from ``start_s`` on, and which decoder read them."""

    samples: np.ndarray
    sample_rate: int
    backend: str
    start_s: float = 0.0

    @property
    def end_s(self) -> float:
        """Time of the end of the last sample."""
        return self.start_s + len(self.samples) / self.sample_rate


def read_with_decord(path: Path, sample_rate: int) -> np.ndarray:
    """The whole soundtrack from time 0 (decord decodes all of it on opening)."""
    import decord

    reader = decord.AudioReader(str(path), ctx=decord.cpu(0), sample_rate=sample_rate, mono=True)
    reader.add_padding()
    return np.asarray(reader[:].asnumpy(), dtype=np.float32).reshape(-1)


RESAMPLE_BATCH_SAMPLES = 1 << 18  # about 6 s at 44.1 kHz: decoded frames resampled together


class _FrameBatcher:
    """Feeds decoded audio frames to one resampler in batches of about
    :data:`RESAMPLE_BATCH_SAMPLES` (one ``resample`` call per batch instead of one per AAC
    frame of 1,024 samples: the per-call cost was 14 % of a sample video's decode). The
    resampler is continuous across calls, so the samples are those of frame-by-frame
    resampling (tested). Frames whose format, layout or rate changes mid-stream start a new
    batch."""

    def __init__(self, resampler) -> None:
        self.resampler = resampler
        self.pending: list[np.ndarray] = []
        self.pending_samples = 0
        self.kind: tuple[str, str, int] | None = None
        self.out: list[np.ndarray] = []

    def add(self, frame) -> None:
        kind = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self.kind is not None and kind != self.kind:
            self.flush()
        self.kind = kind
        self.pending.append(frame.to_ndarray())
        self.pending_samples += frame.samples
        if self.pending_samples >= RESAMPLE_BATCH_SAMPLES:
            self.flush()

    def flush(self) -> None:
        import av

        if not self.pending or self.kind is None:
            return
        fmt, layout, rate = self.kind
        data = np.concatenate(self.pending, axis=1)
        batch = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=layout)
        batch.sample_rate = rate
        self.out += [f.to_ndarray().reshape(-1) for f in self.resampler.resample(batch)]
        self.pending, self.pending_samples = [], 0

    def finish(self) -> list[np.ndarray]:
        self.flush()
        self.out += [f.to_ndarray().reshape(-1) for f in self.resampler.resample(None)]
        return self.out


def read_with_pyav(
    path: Path, sample_rate: int, start_s: float = 0.0, end_s: float | None = None
) -> tuple[np.ndarray, float]:
    """The first audio stream resampled to ``sample_rate`` mono float32, covering
    ``[start_s, end_s]`` (to the end when ``end_s`` is None), and the time of its first sample.

    A full movie of which only a window is annotated (AVA: minutes 15 to 30) is not decoded
    whole: the stream is sought to ``start_s`` and decoding stops after ``end_s``. Silence is
    prepended when the stream starts after ``start_s``.
    """
    import av

    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise CorruptVideoError(f"PyAV cannot open {path.name}: {first_line(exc)}") from exc
    with container:
        if not container.streams.audio:
            raise NoAudioTrackError(
                f"{path.name} has no audio stream (active speaker detection needs the sound)"
            )
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        batcher = _FrameBatcher(resampler)
        first = None
        try:
            if start_s > 0:
                container.seek(int(start_s / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                if first is None and frame.time is not None:
                    first = float(frame.time)
                batcher.add(frame)
                if end_s is not None and frame.time is not None and frame.time > end_s:
                    break
            chunks = batcher.finish()
        except av.FFmpegError as exc:
            raise CorruptAudioError(f"PyAV cannot decode the audio: {first_line(exc)}") from exc
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    first = start_s if first is None else first
    gap = int(round((first - start_s) * sample_rate))
    if gap > 0:  # the stream starts after start_s: silence before it
        samples = np.concatenate([np.zeros(gap, np.float32), samples])
        first = start_s
    if first < 0:  # a stream starting before 0 (encoder priming): drop what precedes time 0
        samples, first = samples[int(round(-first * sample_rate)) :], 0.0
    return samples, first


def read_soundtrack(
    path: Path, sample_rate: int = 16000, start_s: float = 0.0, end_s: float | None = None
) -> Soundtrack:
    """The file's soundtrack over ``[start_s, end_s]`` at least (see the module docstring):
    PyAV, else decord's AudioReader (which reads it all).

    Raises:
        NoAudioTrackError: the file has no audio stream.
        CorruptAudioError: the audio cannot be decoded or holds no samples.
        CorruptVideoError: neither PyAV nor decord can open the file.
    """
    try:
        samples, first = read_with_pyav(path, sample_rate, start_s, end_s)
        backend = "pyav"
    except NoAudioTrackError:
        raise
    except Exception as pyav_error:  # noqa: BLE001 - PyAV failed: decord may still read it
        try:
            samples, first, backend = read_with_decord(path, sample_rate), 0.0, "decord"
        except Exception:  # noqa: BLE001 - both failed: PyAV's reason is the clearer one
            raise pyav_error from None
    if samples.size == 0:
        raise CorruptAudioError(f"{path.name}: the audio stream holds no samples")
    return Soundtrack(samples, sample_rate, backend, first)


def _segment_window(
    track: Soundtrack, start_time: float, rows: int, config: MfccConfig, max_pad_s: float
) -> tuple[int, int]:
    """``(first sample, samples needed)`` of the ``rows`` MFCC rows of a segment starting at
    ``start_time`` (``first`` may be negative: the window of row 0 starts before the segment).

    Raises:
        AudioTooShortError: more than ``max_pad_s`` + the last window's overhang is missing.
    """
    offset = (config.n_fft - config.win_length) // 2  # the window sits centred in its FFT frame
    first = int(round((start_time - track.start_s) * config.sample_rate)) - offset
    needed = (rows - 1) * config.hop_length + config.n_fft
    after = max(0, first + needed - len(track.samples))
    overhang = needed - offset - rows * config.hop_length  # past the segment's end
    allowed = int(round(max_pad_s * config.sample_rate)) + overhang
    if after > allowed:
        raise AudioTooShortError(
            f"the soundtrack ends at {track.end_s:.3f} s, "
            f"{after / config.sample_rate:.3f} s before the segment's audio does "
            f"(at most {max_pad_s} s may be padded)"
        )
    return first, needed


def _padded_slice(samples: np.ndarray, first: int, needed: int) -> np.ndarray:
    """``samples[first : first + needed]``, edge-padded where it reaches outside."""
    available = len(samples)
    if first >= available:
        return np.full(needed, samples[-1], dtype=np.float32)
    piece = samples[max(0, first) : first + needed]
    before, after = max(0, -first), max(0, first + needed - available)
    return np.pad(piece, (before, after), mode="edge").astype(np.float32, copy=False)


def segment_samples(
    track: Soundtrack,
    start_time: float,
    rows: int,
    config: MfccConfig,
    max_pad_s: float,
) -> np.ndarray:
    """The samples that the ``rows`` MFCC rows of a segment starting at ``start_time`` read.

    Raises:
        AudioTooShortError: more than ``max_pad_s`` + the last window's overhang is missing.
    """
    first, needed = _segment_window(track, start_time, rows, config, max_pad_s)
    return _padded_slice(track.samples, first, needed)


def mfcc_rows(samples: np.ndarray, rows: int, config: MfccConfig) -> np.ndarray:
    """MFCC ``[rows, n_mfcc]`` float32 of exactly ``(rows - 1) * hop + n_fft`` samples."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=samples,
        sr=config.sample_rate,
        n_fft=config.n_fft,
        win_length=config.win_length,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        center=False,
    )
    # No top_db clipping (librosa's default clips 80 dB below the loudest row of the input):
    # each row then depends on its own window only, as in python_speech_features, so a
    # segment's MFCC does not depend on where the track was cut.
    features = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None), n_mfcc=config.n_mfcc)
    if features.shape[1] != rows:
        raise AssertionError(f"librosa gave {features.shape[1]} MFCC rows, expected {rows}")
    return np.ascontiguousarray(features.T, dtype=np.float32)


def segment_mfcc(
    track: Soundtrack,
    start_time: float,
    num_frames: int,
    fps: float,
    config: MfccConfig,
    max_pad_s: float,
) -> np.ndarray:
    """The ``[rows_per_frame * num_frames, n_mfcc]`` MFCC of a segment (``4T x 13``)."""
    rows = config.rows_per_frame(fps) * num_frames
    return mfcc_rows(segment_samples(track, start_time, rows, config, max_pad_s), rows, config)


class SegmentMfcc:
    """The MFCC of a video's segments, each row computed once.

    Face tracks of one video overlap in time (two faces on screen, or segments of one track
    cut at 250 frames): computing every segment's MFCC on its own computes the shared rows
    again. A row depends on its own window only (no ``top_db`` clipping, ``center=False``), so
    the rows of segments on a common 10 ms grid (start times a whole number of hops from the
    soundtrack's start: every 25 fps frame time) are computed once per run of overlapping
    segments and sliced; a segment off the grid is computed on its own. The values equal the
    per-segment ones (up to float rounding in the mel matrix product; tested).

    ``prepare`` takes every segment's (start time, frames) first, so the runs are known.
    """

    def __init__(self, track: Soundtrack, config: MfccConfig, fps: float, max_pad_s: float):
        self.track, self.config, self.fps, self.max_pad_s = track, config, fps, max_pad_s
        self.rows_per_frame = config.rows_per_frame(fps)
        self.runs: list[tuple[int, int, np.ndarray | None]] = []  # (first row, end row, rows)

    def _grid_row(self, start_time: float) -> int | None:
        position = (start_time - self.track.start_s) * self.config.sample_rate
        row = position / self.config.hop_length
        if row < 0 or abs(row - round(row)) > 1e-6:
            return None
        return int(round(row))

    def prepare(self, segments: list[tuple[float, int]]) -> None:
        """Plan the runs of overlapping on-grid segments (``(start_time, num_frames)`` each)."""
        spans = []
        for start_time, num_frames in segments:
            row = self._grid_row(start_time)
            if row is not None:
                spans.append((row, row + self.rows_per_frame * num_frames))
        runs: list[list[int]] = []
        for begin, end in sorted(spans):
            if runs and begin <= runs[-1][1]:
                runs[-1][1] = max(runs[-1][1], end)
            else:
                runs.append([begin, end])
        self.runs = [(begin, end, None) for begin, end in runs]

    def _run_rows(self, index: int) -> np.ndarray:
        begin, end, rows = self.runs[index]
        if rows is None:
            hop = self.config.hop_length
            offset = (self.config.n_fft - self.config.win_length) // 2
            count = end - begin
            needed = (count - 1) * hop + self.config.n_fft
            samples = _padded_slice(self.track.samples, begin * hop - offset, needed)
            rows = mfcc_rows(samples, count, self.config)
            self.runs[index] = (begin, end, rows)
        return rows

    def segment(self, start_time: float, num_frames: int) -> np.ndarray:
        """``[rows_per_frame * num_frames, n_mfcc]`` of one segment (as :func:`segment_mfcc`).

        Raises:
            AudioTooShortError: as :func:`segment_mfcc`.
        """
        count = self.rows_per_frame * num_frames
        # The same check as computing it alone: too little audio is rejected either way.
        _segment_window(self.track, start_time, count, self.config, self.max_pad_s)
        row = self._grid_row(start_time)
        if row is not None:
            for index, (begin, end, _) in enumerate(self.runs):
                if begin <= row and row + count <= end:
                    return self._run_rows(index)[row - begin : row - begin + count]
        return segment_mfcc(
            self.track, start_time, num_frames, self.fps, self.config, self.max_pad_s
        )
