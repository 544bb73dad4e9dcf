"""Video and soundtrack decoding: decord and PyAV agree, frames are found by their own
timestamps (variable frame rate), broken, empty and silent files fail with their reason."""

from __future__ import annotations

import numpy as np
import pytest
from av_ingest_fixtures import (
    frame_level,
    truncated_copy,
    write_audio_only,
    write_video,
    write_wav,
)

from crossmodal_ray.pipelines.av.audio import read_soundtrack, read_with_decord
from crossmodal_ray.pipelines.av.errors import (
    CorruptVideoError,
    EmptyVideoError,
    NoAudioTrackError,
    NoVideoStreamError,
)
from crossmodal_ray.pipelines.av.tracks import nearest_indices
from crossmodal_ray.pipelines.av.video import DecordFrames, PyAVFrames, open_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", frames=50, clicks=(1.0,))


def levels(reader, indices):
    return {i: int(round(frame.mean())) for i, frame in reader.rgb_frames(np.asarray(indices))}


def test_decord_and_pyav_give_the_same_timestamps_and_frames(clip):
    decord_reader, pyav_reader = DecordFrames(clip), PyAVFrames(clip)
    for reader in (decord_reader, pyav_reader):
        assert (reader.width, reader.height) == (160, 120)
        np.testing.assert_allclose(reader.start_times, np.arange(50) * 0.04, atol=1e-3)
        assert reader.duration == pytest.approx(2.0, abs=1e-3)
    wanted = [0, 1, 17, 49]
    got_decord, got_pyav = levels(decord_reader, wanted), levels(pyav_reader, wanted)
    assert list(got_decord) == wanted and list(got_pyav) == wanted
    for i in wanted:
        assert abs(got_decord[i] - frame_level(i)) <= 2
        assert abs(got_pyav[i] - frame_level(i)) <= 2
    assert open_video(clip).backend == "decord"


def test_variable_frame_rate_frames_are_picked_by_their_timestamps(tmp_path):
    rng = np.random.default_rng(3)
    times = np.concatenate([[0.0], np.cumsum(rng.uniform(0.02, 0.09, 39))]).round(3)
    path = write_video(tmp_path / "vfr.mp4", frames=40, frame_times=times.tolist())
    targets = np.arange(0, times[-1], 0.04)  # 25 fps
    expected = nearest_indices(times, targets)
    assert not np.array_equal(expected, np.arange(len(targets)))  # index != time * 25 here
    for reader in (DecordFrames(path), PyAVFrames(path)):
        np.testing.assert_allclose(reader.start_times, times, atol=1e-3)
        picked = nearest_indices(reader.start_times, targets)
        np.testing.assert_array_equal(picked, expected)
        got = levels(reader, np.unique(picked))
        assert all(abs(got[i] - frame_level(i)) <= 2 for i in got)


def test_a_truncated_file_is_a_corrupt_video(clip, tmp_path):
    broken = truncated_copy(clip, tmp_path / "broken.mp4", keep=0.5)
    with pytest.raises(CorruptVideoError, match="neither decord .* nor PyAV"):
        open_video(broken)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video at all" * 100)
    with pytest.raises(CorruptVideoError):
        open_video(garbage)


def test_an_empty_file_is_an_empty_video(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(EmptyVideoError):
        open_video(empty)


def test_a_video_track_without_frames_is_an_empty_video(tmp_path):
    no_frames = write_video(tmp_path / "no_frames.mkv", frames=0, audio_seconds=1.0)
    with pytest.raises(EmptyVideoError, match="has no video frames"):
        open_video(no_frames)


def test_an_audio_file_named_as_a_video_has_no_video_stream(tmp_path):
    for path in (write_audio_only(tmp_path / "aac.mp4"), write_wav(tmp_path / "pcm.mp4")):
        with pytest.raises(NoVideoStreamError, match="has no video stream"):
            open_video(path)


def test_a_video_without_audio_has_no_audio_track(tmp_path):
    silent = write_video(tmp_path / "silent.mp4", frames=25, audio_seconds=0)
    assert open_video(silent).backend == "decord"  # the picture is fine
    with pytest.raises(NoAudioTrackError, match="no audio stream"):
        read_soundtrack(silent)


def test_soundtrack_is_16khz_mono_from_time_zero_in_both_decoders(clip):
    by_pyav = read_soundtrack(clip, 16000)
    assert by_pyav.backend == "pyav" and by_pyav.start_s == 0.0
    for samples in (by_pyav.samples, read_with_decord(clip, 16000)):
        assert samples.ndim == 1 and samples.dtype == np.float32
        # 2 s of sound; AAC pads its last 1024-sample frame with silence, which both decoders
        # keep (the real clips' check is in test_av_ingest_real.py)
        assert 2.0 <= len(samples) / 16000 <= 2.0 + 1024 / 16000
        click = np.argmax(np.abs(samples) > 0.4) / 16000
        assert click == pytest.approx(1.0, abs=0.003)


@pytest.mark.parametrize(
    ("name", "codecs"),
    [
        ("a.mp4", ("libx264", "aac")),
        ("a.mkv", ("libx264", "aac")),
        ("a.webm", ("libvpx-vp9", "libopus")),
    ],
)
def test_a_window_of_the_soundtrack_keeps_its_timing_in_every_container(tmp_path, name, codecs):
    """Clicks written at 1.0, 3.0 and 5.5 s are heard there, whether the whole track is read or
    only a window after a seek; in mkv and webm too (decord 0.6 hears the mkv click 64 ms late:
    it ignores the AAC priming there, which is why PyAV reads the sound first)."""
    path = write_video(tmp_path / name, frames=175, clicks=(1.0, 3.0, 5.5), codecs=codecs)
    assert open_video(path).start_times[1] == pytest.approx(0.04, abs=1e-3)
    whole = read_soundtrack(path, 16000)
    window = read_soundtrack(path, 16000, start_s=2.5, end_s=4.0)
    assert window.start_s <= 2.5 and window.end_s >= 4.0 and window.end_s < 5.5
    assert whole.start_s == 0.0 and whole.end_s >= 7.0
    for sound, click in ((whole, 1.0), (window, 3.0)):
        loud = np.flatnonzero(np.abs(sound.samples) > 0.4)
        heard = sound.start_s + loud[0] / 16000
        assert heard == pytest.approx(click, abs=0.003), (name, click)
