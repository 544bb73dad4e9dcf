"""``jobs/ingest_av.py``: every setting is a flag, and bad settings are refused early."""

from __future__ import annotations

import pytest
from job_loader import load_job

from crossmodal_ray.pipelines.av.source import AVSourceConfig


def test_help_lists_the_av_flags(capsys):
    job = load_job("ingest_av")
    with pytest.raises(SystemExit) as exit_info:
        job.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in (
        "--source",
        "--fps",
        "--frame-size",
        "--crop-scale",
        "--out-of-frame",
        "--max-segment-frames",
        "--min-track-frames",
        "--max-gap-s",
        "--box-tolerance",
        "--sample-rate-hz",
        "--n-mfcc",
        "--mfcc-window",
        "--mfcc-hop",
        "--mfcc-n-fft",
        "--mfcc-n-mels",
        "--max-audio-pad-s",
        "--video-threads",
        "--out",
        "--val-fraction",
        "--split-seed",
        "--row-group-rows",
    ):
        assert flag in text, flag


@pytest.mark.parametrize(
    "bad",
    [
        {"fps": 30.0},  # 100 MFCC rows/s is not a whole number per frame
        {"frame_size": 0},
        {"crop_scale": -0.1},
        {"out_of_frame": "wrap"},
        {"min_track_frames": 300},
        {"mfcc_n_fft": 256},
        {"max_gap_s": 0},
    ],
)
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        AVSourceConfig(source="x", **bad)


def test_a_missing_source_folder_is_refused(tmp_path):
    from crossmodal_ray.pipelines.av.source import AVSource

    with pytest.raises(FileNotFoundError, match="does not exist"):
        AVSource(AVSourceConfig(source=str(tmp_path / "nowhere")))
