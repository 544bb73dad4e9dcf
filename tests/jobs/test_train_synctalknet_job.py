"""``jobs/train_synctalknet.py`` end to end on a tiny generated corpus: AV ingest (split by
video), 2-worker training of SyncTalkNet and TalkNet chosen on clean validation AUC, the
desynchronised evaluation, the AVA-style mAP from the predictions CSV it writes, the markdown
ablation table and the JSON line; a resubmission with the same run name resumes (no retraining)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from job_loader import load_job

from crossmodal_ray.pipelines.sample_corpus.av.config import AVSampleConfig
from crossmodal_ray.pipelines.sample_corpus.av.corpus import make_av_corpus
from crossmodal_ray.training.metrics.ava_map import score_ava
from crossmodal_ray.training.metrics.ava_predictions import (
    read_ground_truth_csv,
    read_predictions_csv,
)


@pytest.mark.slow
def test_train_synctalknet_on_a_tiny_av_corpus(ray_session, tmp_path, capsys):
    config = AVSampleConfig(videos=8, min_seconds=3.0, max_seconds=4.0)
    raw = make_av_corpus(tmp_path / "raw", config)
    argv = [
        "--raw-dir", str(raw),
        "--shards-dir", str(tmp_path / "shards"),
        "--storage-path", str(tmp_path / "runs"),
        "--variants", "synctalknet,talknet",
        "--epochs", "1",
        "--batch-size-per-worker", "2",
        "--val-fraction", "0.25",
        "--test-fraction", "0.25",
    ]  # fmt: skip
    result = load_job("train_synctalknet").main(argv)
    rows = result["rows"]
    assert rows["train"] > 0 and rows["val"] > 0
    assert result["split"] == ("test" if rows.get("test") else "val")
    assert set(result["variants"]) == {"synctalknet", "talknet"}
    for key in ("clean_auc", "desync_auc", "clean_map", "chance_map"):
        assert 0.0 <= result[key] <= 1.0 or result[key] != result[key]  # NaN: one class only
    main = result["variants"]["synctalknet"]
    assert set(main) >= {"clean", "desync", "shift", "flip", "repeat", "silence", "swap", "ava"}
    # the desynchronised copies are the clean tracks with some audio replaced: the same frames,
    # once per pooled copy
    copies = main["desync"]["copies"]
    assert copies >= 1 and main["desync"]["frames"] == copies * main["clean"]["frames"] > 0
    assert 0.0 <= main["desync"]["sync_auc"] <= 1.0 or main["desync"]["corrupted_segments"] == 0
    # the predictions CSV it wrote scores the same mAP with the standalone scorer's reader
    assert main["ava_recorded"]["rows_scored"] == main["ava_recorded"]["ground_truth_rows"] > 0
    assert "| synctalknet | on | on |" in result["ablation"]
    assert "| talknet | off | off |" in result["ablation"]
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1])["split"] == result["split"]
    again = load_job("train_synctalknet").main(argv)
    assert again["variants"]["synctalknet"]["steps"] == main["steps"]
    assert again["clean_map"] == pytest.approx(result["clean_map"])
    # its predictions CSV, scored against the raw corpus's own annotation CSVs of those videos
    # (what jobs/eval_ava.py does), gives the job's mAP: every annotated frame was predicted
    predictions = read_predictions_csv(main["predictions_csv"])
    truth = pd.concat(
        read_ground_truth_csv(str(raw / "annotations" / f"{video}-activespeaker.csv"))
        for video in sorted(set(predictions["video_id"]))
    )
    score = score_ava(truth, predictions)
    assert score.missing_predictions == 0 and score.unmatched_predictions == 0
    assert score.mean_ap == pytest.approx(result["recorded_map"])
