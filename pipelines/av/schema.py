"""The audio-visual shard contract: one row per face-track segment of <= 250 frames at 25 fps.

Columns (``av_schema``)::

    ================  ==============  ====================================================
    column            type            meaning
    ================  ==============  ====================================================
    sample_id         string          ``sha1("<video_id>/<entity_id>/<segment_index>")[:20]``
    source            string          the video file, relative to the raw root
    video_id          string          AVA video id (the split's group key)
    entity_id         string          AVA entity id (the face track)
    segment_index     int32           k-th segment of the entity's track (counted over the
                                      whole entity, across gap splits, rejected ones too)
    start_time        float64         seconds of the segment's first frame, video time
    fps               float32         frame rate of the segment (25)
    num_frames        int32           T
    frame_size        int32           H = W of every face crop (112)
    frames            binary          T*H*W uint8, C-order [T, H, W], grayscale face crops
    mfcc              binary          4T*13 float32 little-endian, C-order [4T, 13], 100 Hz
    labels            list<int8>      T per-frame labels: 1 SPEAKING_AUDIBLE, 0 NOT_SPEAKING
                                      or SPEAKING_NOT_AUDIBLE (as TalkNet), from the
                                      nearest annotation
    label_timestamps  list<float64>   the CSV timestamps that fall in this segment
    label_frames      list<int32>     for each of those, the nearest frame (0..T-1)
    in_sync           bool            False when ``sync_labels.csv`` says the track's audio
                                      is out of sync (dubbed, shifted); absent -> True
    ================  ==============  ====================================================

A rejected row (``_rejected/part-*.parquet``): ``source`` is ``<csv>#line<N>`` for an
annotation row, the video file (or the video id when it is absent) for a whole video, and
``<video file>#<entity_id>`` for a track segment (``start_s`` and ``sample_id`` then say which).
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

SCHEMA_VERSION = 1
FORMAT = "ava"
# Rejection stages in pipeline order. On the driver: ``list`` (a CSV file as a whole: unreadable,
# or a header row lacking a column; a video the CSVs name but that is absent), ``csv`` (one
# annotation row: columns, numbers, label, box, duplicate). In the decoding actors, per video:
# ``open`` (corrupt, truncated, zero frames, no video stream),
# ``audio`` (no audio track, undecodable; per segment: soundtrack too short); per annotation row:
# ``annotations`` (timestamp beyond the video); per segment: ``track`` (track too short),
# ``decode`` (frames that cannot be read).
STAGES: tuple[str, ...] = ("list", "csv", "open", "audio", "annotations", "track", "decode")
# The AVA label -> the row's label (TalkNet counts SPEAKING_NOT_AUDIBLE as not speaking).
LABELS: dict[str, int] = {"SPEAKING_AUDIBLE": 1, "SPEAKING_NOT_AUDIBLE": 0, "NOT_SPEAKING": 0}
# The AVA-ActiveSpeaker CSV columns, in order (the files have no header row; a file with one is
# read by its column names, see annotations.py).
CSV_COLUMNS: tuple[str, ...] = (
    "video_id",
    "frame_timestamp",
    "entity_box_x1",
    "entity_box_y1",
    "entity_box_x2",
    "entity_box_y2",
    "label",
    "entity_id",
)
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".webm", ".avi", ".mov")
SYNC_LABELS_FILE = "sync_labels.csv"
DEFAULT_FPS = 25.0
DEFAULT_FRAME_SIZE = 112
DEFAULT_SAMPLE_RATE_HZ = 16000
N_MFCC = 13


def av_schema() -> pa.Schema:
    """The Arrow schema of every audio-visual row (see the module docstring)."""
    return pa.schema(
        [
            pa.field("sample_id", pa.string()),
            pa.field("source", pa.string()),
            pa.field("video_id", pa.string()),
            pa.field("entity_id", pa.string()),
            pa.field("segment_index", pa.int32()),
            pa.field("start_time", pa.float64()),
            pa.field("fps", pa.float32()),
            pa.field("num_frames", pa.int32()),
            pa.field("frame_size", pa.int32()),
            pa.field("frames", pa.binary()),
            pa.field("mfcc", pa.binary()),
            pa.field("labels", pa.list_(pa.int8())),
            pa.field("label_timestamps", pa.list_(pa.float64())),
            pa.field("label_frames", pa.list_(pa.int32())),
            pa.field("in_sync", pa.bool_()),
        ]
    )


def av_sample_id(video_id: str, entity_id: str, segment_index: int) -> str:
    """``sha1("<video_id>/<entity_id>/<segment_index>")[:20]``: the same on every re-run."""
    key = f"{video_id}/{entity_id}/{segment_index}"
    return hashlib.sha1(key.encode("utf-8", errors="surrogatepass")).hexdigest()[:20]
