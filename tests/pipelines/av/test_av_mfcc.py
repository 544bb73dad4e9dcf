"""MFCC of a segment: exactly 4T rows of 13 at 100 Hz, aligned to its frames, the same rows
whichever way the track is cut, short soundtracks padded a little or rejected."""

from __future__ import annotations

import numpy as np
import pytest
from av_ingest_fixtures import tone

from crossmodal_ray.pipelines.av.audio import MfccConfig, SegmentMfcc, Soundtrack, segment_mfcc
from crossmodal_ray.pipelines.av.errors import AudioTooShortError

CONFIG = MfccConfig()
FPS = 25.0


def sound(seconds: float, clicks=()) -> Soundtrack:
    return Soundtrack(tone(seconds, clicks=clicks), 16000, "test")


def test_four_rows_per_frame_and_a_whole_number_is_required():
    assert CONFIG.rows_per_frame(25.0) == 4
    assert CONFIG.rows_per_frame(50.0) == 2
    with pytest.raises(ValueError, match="whole number"):
        CONFIG.rows_per_frame(30.0)


@pytest.mark.parametrize(("start", "frames"), [(0.0, 1), (0.0, 25), (0.52, 10), (1.0, 50)])
def test_a_segment_has_exactly_4t_rows_of_13(start, frames):
    mfcc = segment_mfcc(sound(3.0), start, frames, FPS, CONFIG, max_pad_s=0.04)
    assert mfcc.shape == (4 * frames, 13) and mfcc.dtype == np.float32
    assert np.isfinite(mfcc).all()


def test_a_click_lands_in_the_rows_of_its_video_frame():
    click = 1.013  # inside video frame 12 of a segment starting at 0.5 s (0.98 .. 1.02 s)
    mfcc = segment_mfcc(sound(3.0, clicks=(click,)), 0.5, 40, FPS, CONFIG, max_pad_s=0.04)
    energy = mfcc[:, 0]  # c0 follows the log energy
    loud = int(np.argmax(energy))
    # rows whose 25 ms window holds the whole 10 ms click start in [click - 15 ms, click]
    assert loud in (50, 51)
    assert loud // 4 == int((click - 0.5) * FPS) == 12
    assert energy[loud] > energy[:40].max() + 10


def test_rows_do_not_depend_on_where_the_track_was_cut():
    track = sound(4.0, clicks=(0.7, 1.9, 2.33))
    whole = segment_mfcc(track, 0.2, 80, FPS, CONFIG, max_pad_s=0.04)  # 0.2 .. 3.4 s
    part = segment_mfcc(track, 0.2 + 30 / FPS, 20, FPS, CONFIG, max_pad_s=0.04)
    np.testing.assert_allclose(part, whole[4 * 30 : 4 * 50], atol=1e-3)


def test_audio_ending_a_few_samples_early_is_edge_padded():
    track = sound(2.0 - 0.01)  # 10 ms short of the 2 s segment
    mfcc = segment_mfcc(track, 0.0, 50, FPS, CONFIG, max_pad_s=0.04)
    assert mfcc.shape == (200, 13) and np.isfinite(mfcc).all()


def test_audio_ending_far_too_early_rejects_the_segment():
    with pytest.raises(AudioTooShortError, match="soundtrack ends at 1.500 s"):
        segment_mfcc(sound(1.5), 0.0, 50, FPS, CONFIG, max_pad_s=0.04)
    with pytest.raises(AudioTooShortError):
        segment_mfcc(sound(1.5), 2.0, 10, FPS, CONFIG, max_pad_s=0.04)


def test_overlapping_segments_share_their_rows_and_equal_the_segments_alone():
    """``SegmentMfcc`` computes each run of overlapping segments once: every segment's rows
    equal its MFCC computed alone; off-grid starts and too-short audio behave as alone."""
    track = Soundtrack(tone(6.0, clicks=(0.7, 1.9, 2.33, 4.1)), 16000, "test", start_s=0.12)
    segments = [(0.2, 80), (0.2 + 30 / FPS, 20), (1.0, 60), (4.4, 30), (0.333, 10), (5.9, 25)]
    features = SegmentMfcc(track, CONFIG, FPS, max_pad_s=0.04)
    features.prepare(segments)
    # 0.2 .. 3.4 s and 1.0 .. 3.4 s overlap: one run; 4.4 .. 5.6 s and 5.9 .. 6.9 s: alone
    assert [(b, e) for b, e, _ in features.runs] == [(8, 328), (428, 548), (578, 678)]
    for start, frames in segments[:5]:
        alone = segment_mfcc(track, start, frames, FPS, CONFIG, max_pad_s=0.04)
        np.testing.assert_allclose(features.segment(start, frames), alone, rtol=1e-5, atol=1e-4)
    with pytest.raises(AudioTooShortError):
        features.segment(5.9, 25)  # the soundtrack ends at 6.12 s
    computed = [rows for _, _, rows in features.runs]
    assert computed[0] is not None and computed[1] is not None and computed[2] is None
