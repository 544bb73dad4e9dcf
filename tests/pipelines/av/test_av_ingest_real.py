"""The real talking-face clips (``../shared/data/talking_face``: two h264 + AAC mp4 with speech,
25 fps, about 5 s, one AVA-format CSV): frame count, frame rate, MFCC length and soundtrack
length agree with the video's own duration within one video frame, the reference durations
read independently from PyAV's stream metadata; then the whole job on the folder."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from job_loader import load_job
from repo_paths import SHARED_DATA

from crossmodal_ray.pipelines.av.audio import read_soundtrack
from crossmodal_ray.pipelines.av.schema import av_schema
from crossmodal_ray.pipelines.av.source import AVSource, AVSourceConfig
from crossmodal_ray.pipelines.av.video import open_video

TALKING_FACE = SHARED_DATA / "talking_face"
FRAME_S = 1 / 25

pytestmark = pytest.mark.skipif(not TALKING_FACE.is_dir(), reason=f"{TALKING_FACE} is not there")


def stream_metadata(path: Path) -> dict:
    """Durations and rates from the container's stream headers (no decoding)."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        return {
            "fps": float(video.average_rate),
            "frames": video.frames,
            "video_s": float(video.duration * video.time_base),
            "audio_s": float(audio.duration * audio.time_base),
        }


def csv_span(video_id: str) -> tuple[float, float]:
    lines = (TALKING_FACE / "talking_face-activespeaker.csv").read_text().splitlines()
    times = [float(line.split(",")[1]) for line in lines if line.startswith(video_id + ",")]
    return min(times), max(times)


def frames_of(row: dict) -> np.ndarray:
    size, count = row["frame_size"], row["num_frames"]
    return np.frombuffer(row["frames"], dtype=np.uint8).reshape(count, size, size)


@pytest.fixture(scope="module")
def decoded():
    """Each clip decoded in this process, as an actor would (no Ray)."""
    source = AVSource(AVSourceConfig(source=str(TALKING_FACE)))
    items, rejected = source.list_inputs()
    assert rejected == [] and [i.group_key for i in items] == ["retalk_2", "retalk_5"]
    decoder = source.open_decoder()
    return {item.group_key: (item, source.decode(item, decoder)) for item in items}


@pytest.mark.parametrize("video_id", ["retalk_2", "retalk_5"])
def test_frames_fps_mfcc_and_audio_agree_with_the_video_duration(decoded, video_id):
    item, result = decoded[video_id]
    path = TALKING_FACE / item.source
    meta = stream_metadata(path)
    assert meta["fps"] == 25.0
    # the picture as decoded: as many frames and as long as the headers say
    video = open_video(path)
    assert len(video.start_times) == meta["frames"]
    assert abs(video.duration - meta["video_s"]) <= FRAME_S
    # the soundtrack as decoded (16 kHz mono): as long as its header says, and as the picture
    sound = read_soundtrack(path, 16000)
    assert abs(sound.end_s - meta["audio_s"]) <= FRAME_S
    assert abs(sound.end_s - meta["video_s"]) <= FRAME_S
    # the one track covers the whole clip: T frames at 25 fps span the video
    assert result.rejected == [] and result.rows.num_rows == 1
    (row,) = result.rows.to_pylist()
    first, last = csv_span(video_id)
    assert row["fps"] == 25.0 and row["start_time"] == pytest.approx(first)
    assert row["num_frames"] == round((last - first) * 25) + 1
    assert abs(row["num_frames"] * FRAME_S - meta["video_s"]) <= FRAME_S
    mfcc = np.frombuffer(row["mfcc"], dtype="<f4").reshape(-1, 13)
    assert mfcc.shape[0] == 4 * row["num_frames"]
    assert abs(mfcc.shape[0] / 100 - meta["audio_s"]) <= FRAME_S
    assert np.isfinite(mfcc).all() and mfcc[:, 0].std() > 1  # speech: loudness varies
    # every frame labelled (all speaking in this CSV), every CSV timestamp on its frame
    assert row["labels"] == [1] * row["num_frames"]
    assert len(row["label_timestamps"]) == row["num_frames"]
    assert row["label_frames"] == list(range(row["num_frames"]))
    assert row["in_sync"] is True


@pytest.mark.parametrize("video_id", ["retalk_2", "retalk_5"])
def test_face_crops_are_112_grey_and_move(decoded, video_id):
    _, result = decoded[video_id]
    (row,) = result.rows.to_pylist()
    frames = frames_of(row)
    assert frames.shape == (row["num_frames"], 112, 112) and row["frame_size"] == 112
    assert frames.std(axis=(1, 2)).min() > 10  # a picture in every frame, not a flat fill
    # the speaker moves: consecutive crops differ, but the shot stays the same face
    changes = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2))
    assert changes.mean() > 0.5 and changes.max() < 40


@pytest.mark.slow
def test_the_ingest_job_on_the_real_clips(tmp_path, ray_session, capsys):
    job = load_job("ingest_av")
    summary = job.main(["--source", str(TALKING_FACE), "--out", str(tmp_path)])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == summary
    manifest = json.loads((tmp_path / "talking_face" / "_manifest.json").read_text())
    totals = manifest["totals"]
    assert totals == {"read": 2, "written": 2, "rejected": 0}
    segments, videos = manifest["segments"], manifest["videos"]
    assert segments["read"] == segments["written"] + segments["rejected"] == 2
    assert videos == {
        "read": 2,
        "ingested": 2,
        "rejected": 0,
        "rejected_at_listing": 0,
        "rejected_at_decoding": 0,
    }
    assert manifest["annotation_rows"]["read"] == manifest["annotation_rows"]["kept"] == 247
    assert manifest["group_key"] == "video" and manifest["format"] == "ava"
    assert manifest["ingest"]["row_group_rows"] == 32  # the AV job's default, not the runner's
    files = [tmp_path / "talking_face" / f for s in manifest["splits"].values() for f in s["files"]]
    rows = []
    for path in files:
        table = pq.read_table(path)
        assert table.schema.equals(av_schema(), check_metadata=False)
        rows += table.to_pylist()
    assert sorted(r["video_id"] for r in rows) == ["retalk_2", "retalk_5"]
    assert len({r["sample_id"] for r in rows}) == 2
    for row in rows:
        frames = frames_of(row)
        assert frames.dtype == np.uint8 and frames.shape[1:] == (112, 112)
        assert frames.std() > 10
    frames_written = sum(summary["frames_per_split"].values())
    assert frames_written == sum(r["num_frames"] for r in rows) == 247
