"""Variable frame rate, end to end through the decoding of a listed video: each 25 fps frame of a
track shows the video frame whose own presentation time (the container's timestamp) is nearest
that frame's time, not frame ``index / fps``; each annotation's frame shows the picture at the
annotation's time; and the MFCC rows of a frame are the sound of that same instant.

The video (written here with PyAV, explicit timestamps in a 1 ms time base) runs 1 s at 25 fps,
then 1 s of 10 frames at irregular times, then 1 s at 50 fps; each frame draws its own number
as bars (``code_frame``), read back from the face crop (``read_code``). Clicks in the sound sit
on frames that are at the same instant in the source and on the 25 fps grid.
"""

from __future__ import annotations

import numpy as np
import pytest
from av_ingest_fixtures import code_frame, csv_line, read_code, write_video

from crossmodal_ray.pipelines.av import video
from crossmodal_ray.pipelines.av.source import AVSource, AVSourceConfig

SOURCE_TIMES = np.round(
    np.concatenate(
        [
            np.arange(25) * 0.04,  # 25 fps: frames 0-24
            [1.0, 1.1, 1.15, 1.3, 1.4, 1.55, 1.6, 1.75, 1.8, 1.9],  # irregular: frames 25-34
            2.0 + np.arange(50) * 0.02,  # 50 fps: frames 35-84
        ]
    ),
    3,
)
# Click time -> the source frame at that instant (also on the 25 fps grid: track frames 12,
# 40, 60; index / fps would show source frames 12, 40 and 60 instead of 12, 31 and 55).
CLICKS = {0.48: 12, 1.6: 31, 2.4: 55}
WHOLE_FRAME = (0.0, 0.0, 1.0, 1.0)  # the crop is the whole picture: every bar is in it
FPS = 25.0
FRAME_SIZE = 112


def nearest_source_frames(times: np.ndarray) -> np.ndarray:
    """The source frame with the nearest presentation time (the earlier one on a tie)."""
    return np.abs(SOURCE_TIMES[None, :] - np.asarray(times)[:, None]).argmin(axis=1)


@pytest.fixture(scope="module", params=["mp4", "mkv", "webm"])
def corpus(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"vfr_{request.param}")
    (root / "videos").mkdir()
    codecs = ("libvpx-vp9", "libopus") if request.param == "webm" else ("libx264", "aac")
    write_video(
        root / "videos" / f"vfr.{request.param}",
        frames=len(SOURCE_TIMES),
        frame_times=SOURCE_TIMES.tolist(),
        audio_seconds=3.0,
        clicks=tuple(CLICKS),
        codecs=codecs,
        paint=code_frame,
    )
    lines = [csv_line("vfr", t, box=WHOLE_FRAME, entity="vfr:0") for t in SOURCE_TIMES]
    (root / "vfr-activespeaker.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(params=["decord", "pyav"])
def backend(request, monkeypatch):
    """Frames read by decord, or by PyAV (decord made unable to open the file)."""
    if request.param == "pyav":

        def cannot_open(*args, **kwargs):
            raise RuntimeError("simulated: decord cannot open this file")

        monkeypatch.setattr(video.DecordFrames, "__init__", cannot_open)
    return request.param


def decode_track(root):
    source = AVSource(AVSourceConfig(source=str(root), fps=FPS, frame_size=FRAME_SIZE))
    items, rejected = source.list_inputs()
    assert rejected == [] and len(items) == 1
    decoded = source.decode(items[0], source.open_decoder())
    assert decoded.rejected == []
    (row,) = decoded.rows.to_pylist()
    return row, decoded.info


def test_the_fixture_is_variable_and_has_no_near_ties():
    steps = np.diff(SOURCE_TIMES)
    assert steps.min() == pytest.approx(0.02) and steps.max() == pytest.approx(0.15)
    grid = np.arange(75) / FPS
    distances = np.sort(np.abs(SOURCE_TIMES[None, :] - grid[:, None]), axis=1)
    assert (distances[:, 1] - distances[:, 0] > 1e-3).all()  # no frame time is near a tie


def test_frames_are_picked_by_their_presentation_times(corpus, backend):
    row, info = decode_track(corpus)
    assert info["video_backend"] == {backend: 1}
    count = row["num_frames"]
    assert row["start_time"] == 0.0 and count == 75  # 0 .. 2.98 s at 25 fps
    assert row["labels"] == [1] * count
    crops = np.frombuffer(row["frames"], np.uint8).reshape(count, FRAME_SIZE, FRAME_SIZE)
    shown = np.array([read_code(crop) for crop in crops])
    grid = row["start_time"] + np.arange(count) / FPS
    expected = nearest_source_frames(grid)
    np.testing.assert_array_equal(shown, expected)
    # what index / fps would have shown: wrong for most of the track
    by_index = np.minimum(np.rint(grid * FPS).astype(int), len(SOURCE_TIMES) - 1)
    assert (by_index != expected).sum() > count // 2
    # every annotation: its frame is within half a frame of it and shows the picture at its
    # time (one source frame away at most where the source is faster than 25 fps)
    assert row["label_timestamps"] == pytest.approx(SOURCE_TIMES.tolist())
    for t, j in zip(row["label_timestamps"], row["label_frames"], strict=True):
        assert abs(grid[j] - t) <= 0.5 / FPS + 1e-6
        if t < 2.0:  # 25 fps and slower: exactly the frame annotated
            assert shown[j] == nearest_source_frames([t])[0], t
        else:
            assert abs(SOURCE_TIMES[shown[j]] - t) <= 0.5 / FPS + 1e-6, t


def test_the_sound_of_a_frame_is_heard_at_its_picture(corpus):
    row, _ = decode_track(corpus)
    count = row["num_frames"]
    crops = np.frombuffer(row["frames"], np.uint8).reshape(count, FRAME_SIZE, FRAME_SIZE)
    energy = np.frombuffer(row["mfcc"], "<f4").reshape(4 * count, 13)[:, 0]
    quiet = np.median(energy)
    for click, source_frame in CLICKS.items():
        frame = int(round((click - row["start_time"]) * FPS))
        # the picture of that 25 fps frame is the source frame at the click's instant ...
        assert read_code(crops[frame]) == source_frame
        # ... and the click is loudest in an MFCC row of that instant: row r analyses
        # [start + r * 10 ms, + 25 ms), the 10 ms click sits at [click, click + 10 ms)
        near = np.arange(max(0, 4 * frame - 8), min(4 * count, 4 * frame + 8))
        loudest = int(near[np.argmax(energy[near])])
        assert energy[loudest] > quiet + 100.0  # about 350 louder here, (click, energy[near])
        centre = row["start_time"] + loudest * 0.01 + 0.0125
        assert centre == pytest.approx(click + 0.005, abs=0.0101), click
