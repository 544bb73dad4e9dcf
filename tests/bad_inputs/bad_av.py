"""The AVA-ActiveSpeaker corpus of the bad-input corpus (``write_bad_corpora``): annotation CSVs
and videos, good ones mixed with one of each kind of breakage, for ``jobs/ingest_av.py``.

Good inputs, written: ``videos/good.mp4`` (two face tracks), ``videos/vfr.mp4`` (variable frame
rate: 25 fps, then 10, then 50), ``videos/headered.mp4`` (annotated in a CSV with a header row,
columns reordered and TalkNet's two extra columns), ``videos/shortaudio.mp4`` (one track fits its
sound). Broken ones: CSV rows (``annotations/hand_edited.csv``, one per line), a CSV whose
header lacks a column, a timestamp after the end of ``good.mp4``, an annotated video that is
absent, and video files that are truncated, empty, without frames, without sound, audio only or
not a video at all, a track too short and one longer than its soundtrack. The media are written
with the AV tests' fixtures (``tests/pipelines/av/av_ingest_fixtures.py``), as in
``tests/pipelines/av/test_av_bad_inputs.py``.
"""

from __future__ import annotations

from pathlib import Path

from av_ingest_fixtures import (
    csv_line,
    track_lines,
    truncated_copy,
    write_audio_only,
    write_video,
    write_wav,
)
from bad_input_kinds import BadCorpus, BadKind

FORMAT = "ava"
JOB = "ingest_av"
# Segments: good 3 (2 written, 1 track too short), vfr 1, headered 1, shortaudio 2 (1 written,
# 1 longer than its sound). Videos: 11 files and 1 absent; 4 ingested, 7 rejected in the actors.
SEGMENTS = {"read": 7, "written": 5, "rejected": 2}
VIDEOS = {"read": 12, "ingested": 4, "rejected": 8, "rejected_at_listing": 1}
BOX = (0.3, 0.2, 0.6, 0.7)
# A variable frame rate: 1 s at 25 fps, 1 s at 10 fps, 1 s at 50 fps.
VFR_TIMES = [
    *(round(k * 0.04, 3) for k in range(25)),
    *(round(1.0 + k * 0.1, 3) for k in range(10)),
    *(round(2.0 + k * 0.02, 3) for k in range(50)),
]
# A header row naming every column (reordered) plus the two TalkNet adds to its CSVs.
TALKNET_HEADER = (
    "entity_id,video_id,frame_timestamp,entity_box_x1,entity_box_y1,entity_box_x2,"
    "entity_box_y2,label,label_id,instance_id"
)
# A header row without the label column (and rows to match it).
NO_LABEL_HEADER = (
    "video_id,frame_timestamp,entity_box_x1,entity_box_y1,entity_box_x2,entity_box_y2,entity_id"
)
HAND_EDITED = "annotations/hand_edited.csv"
# (kind name, line of annotations/hand_edited.csv, error type, words of the message)
BAD_ROWS: list[tuple[str, bytes, str, str]] = [
    (
        "annotation row with 7 columns",
        b"good,0.5,0.3,0.2,0.6,0.7,SPEAKING_AUDIBLE",
        "WrongColumnCountError",
        "7 columns, expected 8",
    ),
    (
        "unknown label",
        b"good,0.5,0.3,0.2,0.6,0.7,WHISPERING,good:0",
        "UnknownLabelError",
        "'WHISPERING' is not one of SPEAKING_AUDIBLE",
    ),
    (
        "box out of range",
        b"good,0.5,0.3,0.2,1.5,0.7,SPEAKING_AUDIBLE,good:0",
        "BoxOutOfRangeError",
        "entity_box_x2 = 1.5 is outside [0, 1]",
    ),
    (
        "inverted box",
        b"good,0.5,0.6,0.2,0.3,0.7,SPEAKING_AUDIBLE,good:0",
        "InvertedBoxError",
        "is inverted or empty: need x1 < x2 and y1 < y2",
    ),
    (
        "non-numeric timestamp",
        b"good,half,0.3,0.2,0.6,0.7,SPEAKING_AUDIBLE,good:0",
        "NonNumericFieldError",
        "frame_timestamp 'half' is not a number",
    ),
    (
        "negative timestamp",
        b"good,-0.5,0.3,0.2,0.6,0.7,SPEAKING_AUDIBLE,good:0",
        "NonNumericFieldError",
        "frame_timestamp -0.5 is negative",
    ),
    (
        "empty entity id",
        b"good,0.5,0.3,0.2,0.6,0.7,SPEAKING_AUDIBLE,",
        "EmptyIdError",
        "entity_id is empty",
    ),
    (
        "annotation row with bad UTF-8",
        b"good,0.5,0.3,0.2,0.6,0.7,SPEAKING_AUDIBLE,good:\xff",
        "BadUtf8Error",
        "not UTF-8",
    ),
    (
        "annotation repeated",  # good.csv (read first) annotates good:0 at 0.00 already
        b"good,0.00,0.3,0.2,0.6,0.7,NOT_SPEAKING,good:0",
        "DuplicateAnnotationError",
        "entity good:0 of good is already annotated at 0.0 s",
    ),
]


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def write_videos(videos: Path) -> None:
    """The good and the broken video files."""
    videos.mkdir(parents=True, exist_ok=True)
    write_video(videos / "good.mp4", frames=50, box=BOX)
    write_video(videos / "vfr.mp4", frames=len(VFR_TIMES), frame_times=VFR_TIMES, box=BOX)
    write_video(videos / "headered.mp4", frames=25, box=BOX)
    write_video(videos / "shortaudio.mp4", frames=50, audio_seconds=1.0)
    write_video(videos / "silent.mp4", frames=25, audio_seconds=0)
    write_video(videos / "noframes.mkv", frames=0, audio_seconds=1.0)  # mp4 drops the track
    truncated_copy(write_video(videos / "whole.mp4", frames=50), videos / "broken.mp4", 0.4)
    (videos / "whole.mp4").unlink()
    (videos / "empty.mp4").write_bytes(b"")
    (videos / "garbage.mp4").write_text("this is a text file, not a video\n" * 50)
    write_audio_only(videos / "audioonly.mp4")
    write_wav(videos / "wavfile.mp4")


def video_kinds() -> list[BadKind]:
    """The whole videos rejected (the source is the file, or the id of an absent one)."""

    def kind(name: str, source: str, stage: str, error_type: str, words: str) -> BadKind:
        return BadKind(name, FORMAT, source, stage, error_type, words)

    return [
        kind(
            "annotated video absent",
            "ghost",
            "list",
            "MissingVideoError",
            "but no video file ghost.mp4|mkv|webm|avi|mov exists",
        ),
        kind(
            "truncated mp4",
            "videos/broken.mp4",
            "open",
            "CorruptVideoError",
            "is not a readable video (truncated, corrupt or not a video file)",
        ),
        kind(
            "text file named .mp4",
            "videos/garbage.mp4",
            "open",
            "CorruptVideoError",
            "is not a readable video",
        ),
        kind(
            "empty (0-byte) video file",
            "videos/empty.mp4",
            "open",
            "EmptyVideoError",
            "is an empty file (0 bytes)",
        ),
        kind(
            "zero-frame video (an empty video track)",
            "videos/noframes.mkv",
            "open",
            "EmptyVideoError",
            "has no video frames",
        ),
        kind(
            "mp4 without an audio track",
            "videos/silent.mp4",
            "audio",
            "NoAudioTrackError",
            "has no audio stream (active speaker detection needs the sound)",
        ),
        kind(
            "audio-only mp4 (AAC, no video stream)",
            "videos/audioonly.mp4",
            "open",
            "NoVideoStreamError",
            "has no video stream (an audio-only file)",
        ),
        kind(
            "WAV file named .mp4",
            "videos/wavfile.mp4",
            "open",
            "NoVideoStreamError",
            "has no video stream",
        ),
        kind(
            "face track shorter than 4 frames",
            "videos/good.mp4#good:1",
            "track",
            "ShortTrackError",
            "has 2 frames at 25 fps, fewer than min_track_frames=4",
        ),
        kind(
            "soundtrack ends before the track",
            "videos/shortaudio.mp4#shortaudio:0",
            "audio",
            "AudioTooShortError",
            "before the segment's audio does (at most 0.04 s may be padded)",
        ),
    ]


def write_annotations(raw: Path) -> list[BadKind]:
    """The CSVs; returns the kinds of their bad rows and files."""
    notes = raw / "annotations"
    good = [
        *track_lines("good", 0.0, 1.96, entity="good:0"),  # the whole 2 s video: written
        *track_lines("good", 0.0, 0.04, entity="good:1"),  # 2 frames: too short
        *track_lines("good", 0.0, 0.8, entity="good:2", label="NOT_SPEAKING"),  # written
        csv_line("good", 2.5, entity="good:2"),  # after the end of the 2 s video
    ]
    write_lines(notes / "good.csv", good)
    others = [
        *(csv_line("vfr", t, BOX, entity="vfr:0") for t in VFR_TIMES),
        *track_lines("shortaudio", 0.0, 1.96, entity="shortaudio:0"),  # sound ends at 1 s
        *track_lines("shortaudio", 0.0, 0.8, entity="shortaudio:1"),  # written
        *(
            line
            for video_id in ("broken", "garbage", "empty", "noframes", "silent", "audioonly")
            for line in track_lines(video_id, 0.0, 0.4)
        ),
        *track_lines("wavfile", 0.0, 0.4),
        csv_line("ghost", 0.0),
        csv_line("ghost", 0.04),
    ]
    write_lines(notes / "others.csv", others)
    headered = [
        f"headered:0,headered,{t:.2f},0.3,0.2,0.6,0.7,SPEAKING_AUDIBLE,1,headered:0:{k}"
        for k, t in enumerate(0.04 * k for k in range(25))
    ]
    write_lines(notes / "talknet_style.csv", [TALKNET_HEADER, *headered])
    no_label = [f"good,{0.04 * k:.2f},0.3,0.2,0.6,0.7,good:9" for k in range(10)]
    write_lines(notes / "no_label_column.csv", [NO_LABEL_HEADER, *no_label])
    (notes / "hand_edited.csv").write_bytes(b"\n".join(line for _, line, _, _ in BAD_ROWS) + b"\n")
    kinds = [
        BadKind(name, FORMAT, f"{HAND_EDITED}#line{number}", "csv", error_type, words)
        for number, (name, _, error_type, words) in enumerate(BAD_ROWS, start=1)
    ]
    kinds += [
        BadKind(
            "CSV header row lacking a column",
            FORMAT,
            "annotations/no_label_column.csv",
            "list",
            "MissingColumnsError",
            "the header row lacks the label column",
        ),
        BadKind(
            "timestamp beyond the video",
            FORMAT,
            f"annotations/good.csv#line{len(good)}",
            "annotations",
            "TimestampBeyondVideoError",
            "timestamp 2.5 s of entity good:2 is after the end of good",
        ),
    ]
    return kinds


def write_bad_corpora(root: Path) -> list[BadCorpus]:
    """Write the AVA bad corpus under ``root/ava`` and return its record."""
    raw = Path(root) / "ava"
    write_videos(raw / "videos")
    kinds = write_annotations(raw) + video_kinds()
    return [
        BadCorpus(
            format=FORMAT,
            job=JOB,
            argv=["--source", str(raw), "--corpus", "bad_ava", "--frame-size", "32"],
            raw=raw,
            kinds=kinds,
            written_sources={"videos/good.mp4", "videos/shortaudio.mp4"},
            accepted_kinds={
                "variable frame rate video (25, 10, 50 fps)": "videos/vfr.mp4",
                "CSV with a header row, columns reordered, TalkNet's extra columns": (
                    "videos/headered.mp4"
                ),
            },
        )
    ]


def extra_checks(corpus: BadCorpus, outcome) -> list[str]:
    """Exact counts: segments, videos, annotation rows (CSV lines rejected), the CSV file whose
    header lacks a column, TalkNet's header row skipped, and totals made of all of them."""
    m = outcome.manifest
    got = {
        "segments": {k: m["segments"][k] for k in SEGMENTS},
        "videos": {k: m["videos"][k] for k in VIDEOS},
        "annotation_rows_rejected": m["annotation_rows"]["rejected"],
        "files_rejected": m["listing"]["annotation_files_unreadable"],
        "header_rows_skipped": m["listing"]["header_rows_skipped"],
    }
    expected = {
        "segments": SEGMENTS,
        "videos": VIDEOS,
        "annotation_rows_rejected": sum(k.stage in ("csv", "annotations") for k in corpus.kinds),
        "files_rejected": 1,
        "header_rows_skipped": 1,
    }
    failures = [
        f"ava {key}: {got[key]}, expected {expected[key]}"
        for key in expected
        if got[key] != expected[key]
    ]
    totals = m["totals"]
    parts = (
        m["segments"]["read"]
        + m["videos"]["rejected"]
        + m["annotation_rows"]["rejected"]
        + m["listing"]["annotation_files_unreadable"]
    )
    if totals["read"] != parts:
        failures.append(
            f"ava totals read {totals['read']} != segments + videos + rows + files {parts}"
        )
    if outcome.summary["totals"] != totals:
        failures.append("ava: the job's summary totals differ from the manifest's")
    return failures
