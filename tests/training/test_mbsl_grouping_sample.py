"""The channel grouping is fitted on windows of every training subject (a uniform sample of the
whole split, not the first file's first windows), and a resubmitted run takes its grouping
and model config from its checkpoint instead of refitting them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crossmodal_ray.models.mbsl.channel_grouping import ChannelGrouping
from crossmodal_ray.models.mbsl.model import MBSLConfig
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.tasks import mbsl_experiment
from crossmodal_ray.training.tasks.mbsl_experiment import (
    MBSLRunConfig,
    fit_grouping,
    grouping_and_model_config,
)
from crossmodal_ray.training.uniform_sample import uniform_row_sample

SUBJECTS, WINDOWS = 14, 297  # the sample corpus's training split, in file order
CHANNELS = 3


def ordered_split(ray):
    """Windows of 14 subjects, each subject's windows consecutive; every signal value is the
    subject's index, so a fitted sample tells which subjects it came from."""
    rows = [
        {
            "subject": f"S{s:02d}",
            "signals": np.full((CHANNELS, 8), float(s), dtype=np.float32),
            "channel_present": np.ones(CHANNELS, dtype=bool),
        }
        for s in range(SUBJECTS)
        for _ in range(WINDOWS)
    ]
    return ray.data.from_items(rows)


def test_the_sample_is_uniform_over_the_whole_split(ray_session):
    split = ordered_split(ray_session)
    sample = uniform_row_sample(split, SUBJECTS * WINDOWS, 2048, seed=0, columns=("subject",))
    assert len(sample["subject"]) == 2048
    counts = {s: int(np.sum(sample["subject"] == s)) for s in set(sample["subject"])}
    assert len(counts) == SUBJECTS
    assert min(counts.values()) > 0.6 * 2048 / SUBJECTS
    other = uniform_row_sample(split, SUBJECTS * WINDOWS, 2048, seed=1, columns=("subject",))
    assert not np.array_equal(sample["subject"], other["subject"])


def test_the_grouping_is_fitted_on_windows_of_every_training_subject(ray_session, monkeypatch):
    seen = {}

    def capture(signals, channel_present, **kwargs):
        seen["subjects"] = set(np.unique(signals[:, 0, 0]).astype(int).tolist())
        seen["windows"] = len(signals)
        return ChannelGrouping(groups=[[0], [1, 2]])

    monkeypatch.setattr(ChannelGrouping, "fit", staticmethod(capture))
    manifest = {
        "splits": {"train": {"rows": SUBJECTS * WINDOWS}},
        "sample_rate_hz": 32.0,
        "channels": ["a", "b", "c"],
    }
    fit_grouping(ordered_split(ray_session), manifest, None, 2048)
    assert seen["windows"] == 2048
    assert seen["subjects"] == set(range(SUBJECTS))  # the first 2048 windows held 7 subjects


def test_a_resubmitted_run_takes_grouping_and_config_from_its_checkpoint(tmp_path, monkeypatch):
    grouping = ChannelGrouping(groups=[[0, 2], [1]], channel_names=("a", "b", "c"))
    config = MBSLConfig.small(n_channels=3, groups=((0, 2), (1,)), window_samples=256)
    checkpoint = tmp_path / "runs" / "mbsl" / "checkpoint_step0000040"
    checkpoint.mkdir(parents=True)
    state = {
        "global_step": 40,
        "extras": {"grouping": grouping.to_dict(), "model_config": config.to_dict()},
    }
    (checkpoint / "train_state.json").write_text(json.dumps(state))

    def refit(*args, **kwargs):
        raise AssertionError("a resubmitted run must not refit the grouping")

    monkeypatch.setattr(mbsl_experiment, "fit_grouping", refit)
    logged = []
    got_grouping, got_config = grouping_and_model_config(
        None,
        {},
        MBSLRunConfig(),
        {"d_model": 999},  # flags cannot change the model the checkpoint's weights belong to
        TrainLoopConfig(run_name="mbsl", storage_path=str(tmp_path / "runs")),
        logged.append,
    )
    assert got_grouping.groups == grouping.groups
    assert got_config == config
    assert "not refitted" in logged[0]

    # Another run name has no checkpoint: it fits.
    with pytest.raises(AssertionError, match="must not refit"):
        grouping_and_model_config(
            None,
            {},
            MBSLRunConfig(),
            {},
            TrainLoopConfig(run_name="fresh", storage_path=str(tmp_path / "runs")),
            logged.append,
        )
