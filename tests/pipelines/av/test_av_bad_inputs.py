"""A small AVA-style corpus with every kind of bad input: each lands in ``_rejected/`` with its
stage and reason while the good tracks are written, and the counts add up (segments, videos,
annotation rows, totals). Decoded in this process first (fast), then through the whole job."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from av_ingest_fixtures import csv_line, frame_level, track_lines, truncated_copy, write_video
from job_loader import load_job

from crossmodal_ray.pipelines.av.source import AVSource, AVSourceConfig
from crossmodal_ray.pipelines.core.splits import SPLITS

BOX = (0.3, 0.2, 0.6, 0.7)  # the white face box drawn in good.mp4 (160 x 120 frames)
BAD_ROWS = [
    "good,0.5,0.3,0.2,0.6,0.7,SPEAKING_AUDIBLE",  # 7 columns
    "good,0.5,0.3,0.2,0.6,0.7,WHISPERING,good:0",
    "good,0.5,0.3,0.2,1.5,0.7,SPEAKING_AUDIBLE,good:0",
    "good,0.5,0.6,0.2,0.3,0.7,SPEAKING_AUDIBLE,good:0",
    "good,half,0.3,0.2,0.6,0.7,SPEAKING_AUDIBLE,good:0",
]
# source -> (stage, error type)
EXPECTED_REJECTIONS = {
    "ghost": ("list", "MissingVideoError"),
    "videos/broken.mp4": ("open", "CorruptVideoError"),
    "videos/empty.mp4": ("open", "EmptyVideoError"),
    "videos/silent.mp4": ("audio", "NoAudioTrackError"),
    "videos/good.mp4#good:1": ("track", "ShortTrackError"),
    "videos/shortaudio.mp4#shortaudio:0": ("audio", "AudioTooShortError"),
    "annotations/good-activespeaker.csv#line74": ("annotations", "TimestampBeyondVideoError"),
    "annotations/bad_rows.csv#line1": ("csv", "WrongColumnCountError"),
    "annotations/bad_rows.csv#line2": ("csv", "UnknownLabelError"),
    "annotations/bad_rows.csv#line3": ("csv", "BoxOutOfRangeError"),
    "annotations/bad_rows.csv#line4": ("csv", "InvertedBoxError"),
    "annotations/bad_rows.csv#line5": ("csv", "NonNumericFieldError"),
}
WRITTEN = {("good", "good:0"), ("good", "good:2"), ("shortaudio", "shortaudio:1")}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("ava_bad")
    videos, notes = root / "videos", root / "annotations"
    videos.mkdir()
    notes.mkdir()
    write_video(videos / "good.mp4", frames=50, box=BOX)
    write_video(videos / "shortaudio.mp4", frames=50, audio_seconds=1.0)
    write_video(videos / "silent.mp4", frames=25, audio_seconds=0)
    truncated_copy(write_video(root / "whole.mp4", frames=50), videos / "broken.mp4", keep=0.4)
    (root / "whole.mp4").unlink()
    (videos / "empty.mp4").write_bytes(b"")
    good = [
        *track_lines("good", 0.0, 1.96, entity="good:0"),  # speaking, the whole video: 50 frames
        *track_lines("good", 0.0, 0.04, entity="good:1"),  # 2 frames: too short
        *track_lines("good", 0.0, 0.8, entity="good:2", label="NOT_SPEAKING"),
        csv_line("good", 2.5, entity="good:2"),  # after the 2 s video (line 74)
    ]
    (notes / "good-activespeaker.csv").write_text("\n".join(good) + "\n")
    others = [
        *track_lines("shortaudio", 0.0, 1.96, entity="shortaudio:0"),  # sound ends at 1 s
        *track_lines("shortaudio", 0.0, 0.8, entity="shortaudio:1"),
        *track_lines("broken", 0.0, 1.0),
        *track_lines("silent", 0.0, 0.8),
        *track_lines("empty", 0.0, 0.4),
        csv_line("ghost", 0.0),
        csv_line("ghost", 0.04),
    ]
    (notes / "others.csv").write_text("\n".join(others) + "\n")
    (notes / "bad_rows.csv").write_text("\n".join(BAD_ROWS) + "\n")
    (root / "sync_labels.csv").write_text("video_id,entity_id,in_sync\ngood,good:0,0\n")
    return root


def test_each_video_decodes_or_fails_with_its_reason(corpus):
    source = AVSource(AVSourceConfig(source=str(corpus)))
    items, listing_rejected = source.list_inputs()
    assert [i.group_key for i in items] == ["broken", "empty", "good", "shortaudio", "silent"]
    assert len(listing_rejected) == 6  # 5 bad rows + the absent video
    decoder = source.open_decoder()
    results = {}
    for item in items:
        try:
            results[item.group_key] = source.decode(item, decoder)
        except Exception as exc:  # noqa: BLE001 - the runner rejects these whole videos
            results[item.group_key] = exc
    assert type(results["broken"]).__name__ == "CorruptVideoError"
    assert type(results["empty"]).__name__ == "EmptyVideoError"
    assert type(results["silent"]).__name__ == "NoAudioTrackError"
    good = results["good"]
    assert good.read_units == 2 + 2  # 2 written, 1 short track, 1 row after the end
    rows = {r["entity_id"]: r for r in good.rows.to_pylist()}
    speaker, listener = rows["good:0"], rows["good:2"]
    assert speaker["num_frames"] == 50 and speaker["labels"] == [1] * 50
    assert speaker["in_sync"] is False and listener["in_sync"] is True
    assert listener["num_frames"] == 21 and listener["labels"] == [0] * 21
    assert listener["label_frames"] == list(range(21))  # the row at 2.5 s is not among them
    frames = np.frombuffer(speaker["frames"], np.uint8).reshape(50, 112, 112)
    # the white box fills the crop's upper middle (TalkNet: face high in the crop) ...
    assert (frames[:, 20:60, 40:72] > 230).all()
    # ... and the background beside it is the grey level of source frame k (25 fps -> 25 fps)
    for k in (0, 13, 49):
        assert abs(int(frames[k, 100, 4]) - frame_level(k)) <= 3
    mfcc = np.frombuffer(speaker["mfcc"], "<f4").reshape(-1, 13)
    assert mfcc.shape == (200, 13)
    shortaudio = results["shortaudio"]
    assert [r["entity_id"] for r in shortaudio.rows.to_pylist()] == ["shortaudio:1"]
    assert [r["error_type"] for r in shortaudio.rejected] == ["AudioTooShortError"]


@pytest.mark.slow
def test_the_job_rejects_each_bad_input_and_goes_on(corpus, tmp_path, ray_session):
    job = load_job("ingest_av")
    argv = ["--source", str(corpus), "--out", str(tmp_path), "--corpus", "bad"]
    summary = job.main([*argv, "--frame-size", "96", "--row-group-rows", "2"])
    out = tmp_path / "bad"
    manifest = json.loads((out / "_manifest.json").read_text())
    assert (
        manifest["ingest"]["row_group_rows"] == 2 and manifest["ingest"]["av"]["frame_size"] == 96
    )
    assert manifest["segments"] == {
        "read": 5,
        "written": 3,
        "rejected": 2,
        "rejected_by_reason": {"ShortTrackError": 1, "AudioTooShortError": 1},
    }
    assert manifest["videos"] == {
        "read": 6,
        "ingested": 2,
        "rejected": 4,
        "rejected_at_listing": 1,
        "rejected_at_decoding": 3,
    }
    annotation_rows = manifest["annotation_rows"]
    assert annotation_rows["rejected_at_listing"] == 5
    assert annotation_rows["rejected_at_decoding"] == 1
    assert annotation_rows["read"] == annotation_rows["kept"] + annotation_rows["rejected"]
    # rows of the broken, empty, silent and absent videos
    assert annotation_rows["of_rejected_videos"] == 26 + 21 + 11 + 2
    totals = manifest["totals"]
    assert totals == {"read": 15, "written": 3, "rejected": 12}
    assert totals["read"] == (
        manifest["segments"]["read"] + manifest["videos"]["rejected"] + annotation_rows["rejected"]
    )
    assert summary["totals"] == totals
    rejected = pq.read_table(out / "_rejected").to_pylist()
    got = {r["source"]: (r["stage"], r["error_type"]) for r in rejected}
    assert got == EXPECTED_REJECTIONS
    assert all(r["message"] for r in rejected)
    rows = [
        r
        for s in SPLITS
        for f in manifest["splits"][s]["files"]
        for r in pq.read_table(out / f).to_pylist()
    ]
    assert {(r["video_id"], r["entity_id"]) for r in rows} == WRITTEN
    assert all(len(r["frames"]) == r["num_frames"] * 96 * 96 for r in rows)
    keys = [set(manifest["splits"][s]["keys"]) for s in SPLITS]
    assert sum(len(k) for k in keys) == len(set().union(*keys)) == 2  # no video in two splits


def good_rows(corpus):
    source = AVSource(AVSourceConfig(source=str(corpus)))
    items, _ = source.list_inputs()
    (good,) = [i for i in items if i.group_key == "good"]
    decoded = source.decode(good, source.open_decoder())
    return {r["entity_id"]: r for r in decoded.rows.to_pylist()}, decoded.info


def crops(row):
    return np.frombuffer(row["frames"], np.uint8).reshape(row["num_frames"], 112, 112)


def test_the_fallback_decoders_give_the_same_rows(corpus, monkeypatch):
    from crossmodal_ray.pipelines.av import audio, video

    reference, info = good_rows(corpus)
    assert info["video_backend"] == {"decord": 1} and info["audio_backend"] == {"pyav": 1}

    def fail(*args, **kwargs):
        raise RuntimeError("simulated failure")

    # decord opens the file but cannot decode its frames: the crops are redone with PyAV
    def fail_to_decode(self, indices):
        raise video.CorruptVideoError("simulated decord decoding failure")
        yield

    monkeypatch.setattr(video.DecordFrames, "rgb_frames", fail_to_decode)
    rows, info = good_rows(corpus)
    assert info["video_backend"] == {"pyav": 1}
    # decord cannot open it at all, and PyAV cannot read the sound: PyAV frames, decord sound
    monkeypatch.setattr(video.DecordFrames, "__init__", fail)
    monkeypatch.setattr(audio, "read_with_pyav", fail)
    both, info = good_rows(corpus)
    assert info == {**info, "video_backend": {"pyav": 1}, "audio_backend": {"decord": 1}}
    for entity, row in reference.items():
        for other in (rows[entity], both[entity]):
            assert other["num_frames"] == row["num_frames"] and other["labels"] == row["labels"]
            diff = np.abs(crops(other).astype(int) - crops(row).astype(int))
            assert diff.mean() < 1.0 and diff.max() <= 12
    np.testing.assert_array_equal(rows["good:0"]["mfcc"], reference["good:0"]["mfcc"])
    mfcc = [np.frombuffer(r["good:0"]["mfcc"], "<f4").reshape(-1, 13) for r in (reference, both)]
    assert np.abs(mfcc[0] - mfcc[1])[:, 1:].mean() < 1.0  # decord's sound: same mp4 timing
