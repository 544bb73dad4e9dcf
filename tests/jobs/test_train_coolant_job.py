"""``jobs/train_coolant.py`` end to end on a tiny generated corpus: MediaEval-layout ingest,
the frozen text encoder's features computed once, 2-worker training of COOLANT chosen on
validation, and the JSON line with the report split's metrics next to the majority class."""

from __future__ import annotations

import pytest
from job_loader import load_job

from crossmodal_ray.pipelines.sample_corpus.news.config import NewsSampleConfig
from crossmodal_ray.pipelines.sample_corpus.news.corpus import make_news_corpus


@pytest.mark.slow
def test_train_coolant_on_a_tiny_mediaeval_corpus(ray_session, tmp_path):
    config = NewsSampleConfig(
        mediaeval_posts=240, mediaeval_events=16, weibo_posts=40, weibo_events=4
    )
    raw = make_news_corpus(tmp_path / "raw", config)
    result = load_job("train_coolant").main(
        [
            "--raw-dir", str(raw / "mediaeval"),
            "--shards-dir", str(tmp_path / "shards"),
            "--storage-path", str(tmp_path / "runs"),
            "--variants", "coolant",
            "--split-by", "event",
            "--epochs", "1",
            "--batch-size-per-worker", "8",
            "--order-block-rows", "8",
            "--shuffle-buffer-rows", "8",
            "--warmup-steps", "0",
        ]
    )  # fmt: skip
    rows = result["rows"]
    assert rows["train"] > 0 and rows["val"] > 0
    assert result["split"] == ("test" if rows["test"] else "val")
    assert set(result["variants"]) == {"coolant"}
    for key in ("accuracy", "macro_f1", "f1_fake", "f1_real", "precision_fake", "recall_fake"):
        assert 0.0 <= result[key] <= 1.0
    assert 0.0 <= result["baseline_majority_accuracy"] <= 1.0
    assert result["majority_class"] in ("real", "fake")
    assert 1 <= result["variants"]["coolant"]["steps"] <= rows["train"] // 16
    assert result["variants"]["coolant"]["best_checkpoint"].startswith(str(tmp_path / "runs"))
