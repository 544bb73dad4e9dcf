"""AVA-ActiveSpeaker-style corpora as a source adapter of the generic ingest runner.

One input = one video (group key: the video id, so splits are by video); one row = one
face-track segment of <= 250 frames at 25 fps (``schema.py``). On the driver
(``list_inputs``, ``listing.py``): CSV rows parsed and checked, videos found, sync labels read.
In the actors (``decode``, ``decoding.py``): decord/PyAV frames and soundtrack, tracks,
segments, MFCC, face crops.

Counting (manifest ``counting``): ``totals`` count the entries of the shards and of
``_rejected/``: written segments + rejected segments + one per video rejected as a whole (absent
at listing, or unreadable in an actor) + one per rejected annotation row (a bad CSV row at
listing, a timestamp beyond its video in an actor) + one per CSV file rejected whole
(unreadable, or a header row lacking a column); read = written + rejected. ``segments`` (read =
written + rejected), ``videos`` (read = ingested + rejected) and ``annotation_rows`` (read =
kept + rejected; ``of_rejected_videos`` of the kept rows belong to videos rejected as a whole)
break it down, and ``totals.read`` = segments.read + videos.rejected + annotation_rows.rejected
+ CSV files rejected whole. The runner's ``inputs`` counts every listing rejection as an input
(bad CSV rows included); ``videos`` is the count of videos.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from crossmodal_ray.pipelines.av.audio import MfccConfig, mfcc_rows
from crossmodal_ray.pipelines.av.boxes import OUT_OF_FRAME_MODES
from crossmodal_ray.pipelines.av.crops import CropConfig
from crossmodal_ray.pipelines.av.decoding import DecodeSettings, decode_video
from crossmodal_ray.pipelines.av.listing import list_av_inputs
from crossmodal_ray.pipelines.av.schema import (
    DEFAULT_FPS,
    DEFAULT_FRAME_SIZE,
    DEFAULT_SAMPLE_RATE_HZ,
    FORMAT,
    N_MFCC,
    SCHEMA_VERSION,
    STAGES,
    av_schema,
)
from crossmodal_ray.pipelines.core.source import DecodedInput, InputItem, sum_summaries

SAMPLE_AV_DIR = "data/raw/av_sample"
COUNTING = (
    "totals count shard rows and _rejected/ entries: track segments (written or rejected), "
    "one per video rejected as a whole (absent, unreadable, no audio), one per rejected "
    "annotation row and one per CSV file rejected whole (unreadable, or a header lacking a "
    "column); segments, videos and annotation_rows count each unit on its own (segments: "
    "read = written + rejected; videos: read = ingested + rejected; annotation_rows: read = "
    "kept + rejected); the runner's inputs count every listing rejection (bad CSV rows too) "
    "as an input, videos counts videos only"
)


@dataclass
class AVSourceConfig:
    """The raw AVA-style corpus and what its face tracks become; each field is a flag.

    Attributes:
        source: Raw folder: ``videos/<video_id>.mp4|mkv|webm`` (or the videos directly in it),
            annotation CSVs (``*.csv`` in it or under ``annotations/``), optional
            ``sync_labels.csv``. Empty: the sample corpus data/raw/av_sample.
        fps: Frame rate the tracks are resampled to (TalkNet: 25).
        frame_size: Side of the square grayscale face crop (TalkNet: 112).
        crop_scale: TalkNet's crop scale cs: the crop around a face box of half-size bs is
            2 * bs * (1 + cs) wide, from bs above the box centre to bs * (1 + 2 * cs) below.
        out_of_frame: clamp (crop window cut to the frame, as the issue asks) or pad (TalkNet's
            grey padding, keeps the aspect ratio at the border).
        max_segment_frames: Longest segment; longer tracks are cut into near-equal segments.
        min_track_frames: Tracks with fewer frames are rejected.
        max_gap_s: A track is split where consecutive annotations are further apart.
        box_tolerance: Box coordinates may leave [0, 1] by this much (then clipped).
        sample_rate_hz: Audio rate (16 kHz, TalkNet).
        n_mfcc: MFCC coefficients (13, TalkNet).
        mfcc_window: MFCC analysis window in samples (400 = 25 ms, TalkNet).
        mfcc_hop: MFCC step in samples (160 = 10 ms: 100 rows/s, 4 per 25 fps frame).
        mfcc_n_fft: FFT size of the MFCC (512, as python_speech_features in TalkNet).
        mfcc_n_mels: Mel filters of the MFCC (26, as python_speech_features in TalkNet).
        max_audio_pad_s: At most this much missing soundtrack at a segment's end is filled by
            repeating the last sample; a segment missing more is rejected.
        video_threads: decord decoding threads per actor (match --cpus-per-decoder).
    """

    source: str = ""
    fps: float = DEFAULT_FPS
    frame_size: int = DEFAULT_FRAME_SIZE
    crop_scale: float = 0.4
    out_of_frame: str = field(default="clamp", metadata={"choices": OUT_OF_FRAME_MODES})
    max_segment_frames: int = 250
    min_track_frames: int = 4
    max_gap_s: float = 0.5
    box_tolerance: float = 0.01
    sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ
    n_mfcc: int = N_MFCC
    mfcc_window: int = 400
    mfcc_hop: int = 160
    mfcc_n_fft: int = 512
    mfcc_n_mels: int = 26
    max_audio_pad_s: float = 0.04
    video_threads: int = 1

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.max_segment_frames < 1 or self.min_track_frames < 1:
            raise ValueError("max_segment_frames and min_track_frames must be >= 1")
        if self.min_track_frames > self.max_segment_frames:
            raise ValueError("min_track_frames must not exceed max_segment_frames")
        if self.max_gap_s <= 0 or self.box_tolerance < 0 or self.max_audio_pad_s < 0:
            raise ValueError("max_gap_s must be > 0; box_tolerance, max_audio_pad_s >= 0")
        if self.mfcc_n_fft < self.mfcc_window:
            raise ValueError("mfcc_n_fft must be >= mfcc_window")
        self.mfcc_config().rows_per_frame(self.fps)  # a whole number of rows per frame
        self.crop_config()  # validates size, scale and mode

    def crop_config(self) -> CropConfig:
        return CropConfig(self.frame_size, self.crop_scale, self.out_of_frame)

    def mfcc_config(self) -> MfccConfig:
        return MfccConfig(
            self.sample_rate_hz,
            self.n_mfcc,
            self.mfcc_window,
            self.mfcc_hop,
            self.mfcc_n_fft,
            self.mfcc_n_mels,
        )

    def decode_settings(self) -> DecodeSettings:
        return DecodeSettings(
            fps=self.fps,
            crop=self.crop_config(),
            mfcc=self.mfcc_config(),
            max_gap_s=self.max_gap_s,
            max_segment_frames=self.max_segment_frames,
            min_track_frames=self.min_track_frames,
            max_audio_pad_s=self.max_audio_pad_s,
            video_threads=self.video_threads,
        )


class AVDecoder:
    """Per-actor state: the decode settings, with librosa warmed once (its first MFCC loads
    numba's compiled functions: seconds)."""

    def __init__(self, settings: DecodeSettings) -> None:
        self.settings = settings
        # librosa loads lazily: one tiny MFCC here, not in the first video's time.
        config = settings.mfcc
        mfcc_rows(np.zeros(config.n_fft, np.float32), 1, config)


class AVSource:
    """AVA-style face tracks -> one row per track segment (see the module docstring)."""

    format = FORMAT
    schema_version = SCHEMA_VERSION
    group_key_name = "video"
    input_noun = "videos"
    stages = STAGES
    decoder_needs_actor = True

    def __init__(self, config: AVSourceConfig) -> None:
        root = Path(config.source)
        if not config.source or not root.is_dir():
            raise FileNotFoundError(f"source folder {config.source!r} does not exist")
        self.config = config
        self.root = str(root.resolve())
        # Small facts of the listing for the manifest (never the items: the adapter is pickled
        # to every actor).
        self.listing_facts: dict[str, Any] = {}
        self.listing_warnings: list[str] = []

    def schema(self) -> pa.Schema:
        return av_schema()

    def list_inputs(self) -> tuple[list[InputItem], list[dict]]:
        config = self.config
        listing = list_av_inputs(
            Path(self.root), config.fps, config.frame_size, config.box_tolerance
        )
        self.listing_facts = {**listing.facts, "videos_listed": len(listing.items)}
        self.listing_warnings = listing.warnings
        return listing.items, listing.rejected

    def open_decoder(self) -> AVDecoder:
        return AVDecoder(self.config.decode_settings())

    def decode(self, item: InputItem, state: AVDecoder) -> DecodedInput:
        return decode_video(item, Path(self.root), state.settings, self.schema())

    def summarize(self, rows: pa.Table, infos: list[dict[str, Any]]) -> dict[str, Any]:
        """Additive per-task facts: videos, segments, tracks, frames, labels, decoders."""
        total = sum_summaries(infos) or {}
        return {
            "videos": total.get("videos", 0),
            "segments": rows.num_rows,
            "segments_rejected": total.get("segments_rejected", 0),
            "segments_rejected_by_reason": total.get("segments_rejected_by_reason") or {},
            "tracks": total.get("tracks", 0),
            "frames": total.get("frames", 0),
            "speaking_frames": total.get("speaking_frames", 0),
            "out_of_sync_segments": total.get("out_of_sync_segments", 0),
            "annotation_rows": total.get("annotation_rows", 0),
            "annotation_rows_rejected": total.get("annotation_rows_rejected", 0),
            "video_backend": total.get("video_backend") or {},
            "audio_backend": total.get("audio_backend") or {},
            "video_seconds": total.get("video_seconds", 0.0),
            "audio_seconds": total.get("audio_seconds", 0.0),
        }

    def manifest_fields(self, summaries: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        """Segments, videos and annotation rows (each read = written + rejected), per-split
        label statistics, decoders, the settings and the listing's facts."""
        per_split = {split: sum_summaries(items) or {} for split, items in summaries.items()}
        every = sum_summaries(list(per_split.values())) or {}
        facts = self.listing_facts
        decoded_videos = every.get("videos", 0)
        listed = facts.get("videos_listed", 0)
        absent = facts.get("videos_absent", 0)
        rows_rejected_listing = facts.get("annotation_rows_rejected_at_listing", 0)
        rows_rejected_decoding = every.get("annotation_rows_rejected", 0)
        rows_of_decoded = every.get("annotation_rows", 0)
        written = every.get("segments", 0)
        segments_rejected = every.get("segments_rejected", 0)
        return {
            "counting": COUNTING,
            "segments": {
                "read": written + segments_rejected,
                "written": written,
                "rejected": segments_rejected,
                "rejected_by_reason": every.get("segments_rejected_by_reason") or {},
            },
            "videos": {
                "read": listed + absent,
                "ingested": decoded_videos,
                "rejected": listed + absent - decoded_videos,
                "rejected_at_listing": absent,
                "rejected_at_decoding": listed - decoded_videos,
            },
            "annotation_rows": {
                "read": facts.get("annotation_rows_read", 0),
                "kept": facts.get("annotation_rows_read", 0)
                - rows_rejected_listing
                - rows_rejected_decoding,
                "rejected": rows_rejected_listing + rows_rejected_decoding,
                "rejected_at_listing": rows_rejected_listing,
                "rejected_at_decoding": rows_rejected_decoding,
                "of_rejected_videos": facts.get("annotation_rows_of_listed_videos", 0)
                - rows_of_decoded
                + facts.get("annotation_rows_of_absent_videos", 0),
            },
            "segments_per_split": {s: v.get("segments", 0) for s, v in per_split.items()},
            "frames_per_split": {s: v.get("frames", 0) for s, v in per_split.items()},
            "speaking_frames_per_split": {
                s: v.get("speaking_frames", 0) for s, v in per_split.items()
            },
            "out_of_sync_segments_per_split": {
                s: v.get("out_of_sync_segments", 0) for s, v in per_split.items()
            },
            "tracks": every.get("tracks", 0),
            "video_backend": every.get("video_backend") or {},
            "audio_backend": every.get("audio_backend") or {},
            "video_seconds": round(every.get("video_seconds", 0.0), 3),
            "audio_seconds": round(every.get("audio_seconds", 0.0), 3),
            "fps": self.config.fps,
            "frame_size": self.config.frame_size,
            "sample_rate_hz": self.config.sample_rate_hz,
            "mfcc_rows_per_frame": self.config.mfcc_config().rows_per_frame(self.config.fps),
            "listing": facts,
            "listing_warnings": self.listing_warnings,
        }
