"""A run resumes only with the model config it was started with, on the same ingest of its
corpus."""

from __future__ import annotations

import json

import pytest

from crossmodal_ray.models.coolant.config import CoolantConfig
from crossmodal_ray.training.checkpointing import STATE_FILE
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.run_checkpoints import check_resumable, corpus_identity


def _write_checkpoint(root, run_name: str, model_config: dict, corpus_id: str = "") -> None:
    folder = root / run_name / "checkpoint_000001"
    folder.mkdir(parents=True)
    extras = {"model_config": model_config, "corpus_id": corpus_id}
    state = {"global_step": 10, "extras": extras}
    (folder / STATE_FILE).write_text(json.dumps(state))


def test_a_run_started_with_another_model_config_is_refused(tmp_path):
    loop = TrainLoopConfig(run_name="news_coolant", storage_path=str(tmp_path))
    config = CoolantConfig.small().to_dict()
    check_resumable(loop, config)  # no run yet
    _write_checkpoint(tmp_path, "news_coolant", config)
    check_resumable(loop, config)  # same model: resumes
    with pytest.raises(ValueError, match="image_size"):
        check_resumable(loop, {**config, "image_size": 64})


def test_a_run_trained_on_an_earlier_ingest_of_the_corpus_is_refused(tmp_path):
    """The sample corpus regenerated and ingested again under the same run name: the finished
    run must not be 'resumed' on rows it never saw (it would train no step and report the old
    figures)."""
    loop = TrainLoopConfig(run_name="av_synctalknet", storage_path=str(tmp_path))
    config = CoolantConfig.small().to_dict()
    first = corpus_identity({"corpus": "av_sample", "created_at": "2026-12-05T06:57:50+00:00"})
    again = corpus_identity({"corpus": "av_sample", "created_at": "2026-12-05T09:40:01+00:00"})
    assert first != again
    _write_checkpoint(tmp_path, "av_synctalknet", config, first)
    check_resumable(loop, config, first)  # the same ingest: resumes
    check_resumable(loop, config)  # no identity given: the model check only
    with pytest.raises(ValueError, match="ingested again"):
        check_resumable(loop, config, again)
