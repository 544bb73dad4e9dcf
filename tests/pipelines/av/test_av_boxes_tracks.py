"""Boxes (interpolation, TalkNet enlargement, clamping, crops) and tracks (gap splits, 25 fps
frames, near-equal segments, nearest-annotation labels)."""

from __future__ import annotations

import numpy as np
import pytest

from crossmodal_ray.pipelines.av.boxes import (
    PAD_VALUE,
    clamp_windows,
    interpolate_boxes,
    pixel_windows,
    talknet_crop_windows,
    to_pixels,
)
from crossmodal_ray.pipelines.av.crops import CropConfig, crop_face
from crossmodal_ray.pipelines.av.tracks import (
    entity_segments,
    gap_runs,
    nearest_indices,
    segment_bounds,
)


def test_interpolation_is_linear_between_annotations_and_constant_outside():
    times = np.array([1.0, 2.0])
    boxes = np.array([[0.0, 0.0, 0.2, 0.4], [0.4, 0.2, 0.6, 0.8]])
    out = interpolate_boxes(times, boxes, np.array([0.5, 1.0, 1.25, 2.0, 3.0]))
    np.testing.assert_allclose(out[0], boxes[0])
    np.testing.assert_allclose(out[2], [0.1, 0.05, 0.3, 0.5])
    np.testing.assert_allclose(out[3], boxes[1])
    np.testing.assert_allclose(out[4], boxes[1])


def test_talknet_window_is_a_square_of_side_2bs_1_plus_cs_with_the_face_high():
    box = to_pixels(np.array([[0.25, 0.5, 0.35, 0.9]]), 400, 200)  # 40 x 80 px
    np.testing.assert_allclose(box, [[100, 100, 140, 180]])
    (left, top, right, bottom) = talknet_crop_windows(box, crop_scale=0.4)[0]
    bs = 40.0  # max(40, 80) / 2; centre (120, 140)
    assert right - left == pytest.approx(2 * bs * 1.4)
    assert bottom - top == pytest.approx(2 * bs * 1.4)
    assert (left + right) / 2 == pytest.approx(120)
    assert top == pytest.approx(140 - bs)  # the top of the (square) face box
    assert bottom == pytest.approx(140 + bs * 1.8)
    # cs = 0: the tight square around the box centre
    np.testing.assert_allclose(talknet_crop_windows(box, 0.0)[0], [80, 100, 160, 180])


def test_clamping_cuts_windows_to_the_frame_and_keeps_at_least_a_pixel():
    windows = np.array([[-10.2, -5, 50, 60], [5, 5, 15, 12], [90, 90, 120, 130], [3, 3, 3, 3]])
    out = clamp_windows(windows, width=40, height=30)
    assert out.tolist() == [[0, 0, 40, 30], [5, 5, 15, 12], [39, 29, 40, 30], [3, 3, 4, 4]]
    assert pixel_windows(windows)[0].tolist() == [-10, -5, 50, 60]


def face_frame() -> np.ndarray:
    frame = np.full((120, 160, 3), 30, dtype=np.uint8)
    frame[40:80, 60:100] = (250, 0, 0)  # pure red: luma 0.299 * 250
    return frame


def test_crop_is_grey_luma_resized_to_frame_size():
    config = CropConfig(frame_size=16, crop_scale=0.0)
    face = crop_face(face_frame(), np.array([60, 40, 100, 80]), config)
    assert face.shape == (16, 16) and face.dtype == np.uint8
    assert abs(int(face[8, 8]) - round(0.299 * 250)) <= 1
    wide = crop_face(face_frame(), np.array([40, 20, 120, 100]), config)
    assert wide[0, 0] == 30 and abs(int(wide[8, 8]) - 75) <= 1


def test_pad_mode_fills_outside_the_frame_with_talknet_grey():
    config = CropConfig(frame_size=20, crop_scale=0.0, out_of_frame="pad")
    window = np.array([-40, 40, 0 + 40, 120])  # left half outside the frame
    face = crop_face(face_frame(), window, config)
    assert face[10, 2] == PAD_VALUE and face[10, 17] in (30, 75)
    off = crop_face(face_frame(), np.array([-50, -50, -10, -10]), config)
    assert (off == PAD_VALUE).all()


def test_nearest_indices_pick_the_closest_and_the_earlier_on_ties():
    times = np.array([0.0, 1.0, 2.0])
    assert nearest_indices(times, np.array([-1, 0.4, 0.5, 0.6, 1.9, 5])).tolist() == [
        0,
        0,
        0,
        1,
        2,
        2,
    ]
    assert nearest_indices(np.array([3.0]), np.array([0.0, 9.0])).tolist() == [0, 0]


def test_gap_runs_split_only_above_the_gap():
    times = np.array([0.0, 0.5, 1.0, 1.51, 1.6, 3.0])
    assert gap_runs(times, 0.5) == [(0, 3), (3, 5), (5, 6)]


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        (250, [(0, 250)]),
        (260, [(0, 130), (130, 130)]),
        (501, [(0, 167), (167, 167), (334, 167)]),
        (3, [(0, 3)]),
    ],
)
def test_segments_are_near_equal_and_at_most_max_frames(frames, expected):
    assert segment_bounds(frames, 250) == expected


def ava_entity(times, labels, fps=25.0, max_gap=0.5, max_frames=250):
    times = np.asarray(times, dtype=np.float64)
    boxes = np.tile([0.2, 0.2, 0.4, 0.6], (len(times), 1))
    sources = [f"a.csv#line{i}" for i in range(len(times))]
    return entity_segments(
        "e", times, boxes, np.asarray(labels, np.int8), sources, True, fps, max_gap, max_frames
    )


def test_a_30hz_track_becomes_25fps_frames_with_nearest_labels():
    times = 900.0 + np.arange(31) / 30  # one second of AVA-style annotations at 30 Hz
    labels = (np.arange(31) >= 15).astype(int)  # speaking from 900.5 s on
    (segment,) = ava_entity(times, labels)
    assert segment.count == 26 and segment.start_time == pytest.approx(900.0)
    frame_times = segment.frame_times()
    np.testing.assert_allclose(np.diff(frame_times), 0.04)
    expected = labels[nearest_indices(times, frame_times)]
    assert segment.labels().tolist() == expected.tolist()
    assert segment.labels()[:12].sum() == 0 and segment.labels()[13:].all()
    stamps, frames = segment.label_points()
    np.testing.assert_allclose(stamps, times)
    np.testing.assert_array_equal(frames, np.rint((times - 900.0) * 25).astype(int))


def test_segments_number_over_the_entity_and_share_out_the_annotations():
    first = np.arange(0, 12.0 + 1e-9, 0.04)  # 301 frames -> 2 segments
    second = 20.0 + np.arange(0, 1.0 + 1e-9, 0.04)  # after a gap: its own track
    times = np.concatenate([first, second])
    segments = ava_entity(times, np.ones(len(times)))
    assert [(s.index, s.first, s.count) for s in segments] == [
        (0, 0, 150),
        (1, 150, 151),
        (2, 0, 26),
    ]
    assert segments[1].start_time == pytest.approx(6.0)
    assert segments[2].start_time == pytest.approx(20.0)
    points = [s.label_points() for s in segments]
    assert sum(len(t) for t, _ in points) == len(times)
    for segment, (_, frames) in zip(segments, points, strict=True):
        assert frames.min() >= 0 and frames.max() < segment.count
