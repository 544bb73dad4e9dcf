"""A COOLANT run resumes only with the model config it was started with."""

from __future__ import annotations

import json

import pytest

from crossmodal_ray.models.coolant.config import CoolantConfig
from crossmodal_ray.training.checkpointing import STATE_FILE
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.run_checkpoints import check_resumable


def _write_checkpoint(root, run_name: str, model_config: dict) -> None:
    folder = root / run_name / "checkpoint_000001"
    folder.mkdir(parents=True)
    state = {"global_step": 10, "extras": {"model_config": model_config}}
    (folder / STATE_FILE).write_text(json.dumps(state))


def test_a_run_started_with_another_model_config_is_refused(tmp_path):
    loop = TrainLoopConfig(run_name="news_coolant", storage_path=str(tmp_path))
    config = CoolantConfig.small().to_dict()
    check_resumable(loop, config)  # no run yet
    _write_checkpoint(tmp_path, "news_coolant", config)
    check_resumable(loop, config)  # same model: resumes
    with pytest.raises(ValueError, match="image_size"):
        check_resumable(loop, {**config, "image_size": 64})
