"""Config dataclasses as flags: an explicit flag always wins over a preset, whatever its value."""

from __future__ import annotations

import argparse

import pytest

from crossmodal_ray.models.mbsl.model import MBSLConfig
from crossmodal_ray.training.cli_flags import (
    add_config_flags,
    config_from_flags,
    explicit_flags,
    field_descriptions,
)
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.tasks.mbsl_experiment import MBSLRunConfig, build_model_config


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_config_flags(parser, MBSLRunConfig)
    add_config_flags(
        parser, MBSLConfig, exclude=("n_channels", "window_samples", "window_s", "groups")
    )
    add_config_flags(parser, TrainLoopConfig, exclude=("steps_per_epoch",))
    return parser.parse_args(argv)


class _Grouping:
    def as_tuple(self):
        return ((0, 1), (2,), (3, 4, 5), (6,))


MANIFEST = {"channels": list("abcdefg"), "window_samples": 256, "window_s": 8.0}


@pytest.mark.parametrize(
    "argv, d_model, n_layers",
    [
        (["--preset", "paper", "--d-model", "64"], 64, 3),  # 64 is also the small default
        (["--preset", "paper"], 128, 3),
        (["--d-model", "32", "--n-heads", "4"], 32, 2),
        ([], 64, 2),
    ],
)
def test_explicit_model_flag_wins_over_preset(argv, d_model, n_layers):
    args = _parse(argv)
    run = config_from_flags(MBSLRunConfig, args)
    config = build_model_config(run.preset, explicit_flags(MBSLConfig, args), MANIFEST, _Grouping())
    assert (config.d_model, config.n_layers) == (d_model, n_layers)


def test_flags_parse_types_and_only_given_flags_count():
    args = _parse(["--patch-lengths", "4,8", "--no-learn-temperature", "--lr", "0.01"])
    assert explicit_flags(MBSLConfig, args) == {"patch_lengths": (4, 8), "learn_temperature": False}
    loop = config_from_flags(TrainLoopConfig, args, run_name="fixed")
    assert loop.lr == 0.01 and loop.run_name == "fixed" and loop.epochs == TrainLoopConfig().epochs
    with pytest.raises(SystemExit):
        _parse(["--loss", "approximate"])  # choices come from the field metadata


def test_help_comes_from_the_docstring():
    descriptions = field_descriptions(MBSLRunConfig)
    assert descriptions["n_groups"].startswith("Channel groups")
    assert "explicit model flag always wins" in descriptions["preset"]
