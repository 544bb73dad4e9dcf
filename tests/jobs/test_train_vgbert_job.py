"""``jobs/train_vgbert.py`` end to end on a tiny generated corpus: ingest, 2-worker training with
retrieval validation, and the JSON line with every metric next to its chance level and the
untrained model's figure."""

from __future__ import annotations

import pytest
from job_loader import load_job

from crossmodal_ray.pipelines.sample_corpus.image_text.corpus import (
    ImageTextSampleConfig,
    make_image_text_corpus,
)


@pytest.mark.slow
def test_train_vgbert_on_a_tiny_coco_corpus(ray_session, tmp_path):
    raw = make_image_text_corpus(
        tmp_path / "raw", ImageTextSampleConfig(train_images=48, val_images=12, image_size=64)
    )
    result = load_job("train_vgbert").main(
        [
            "--raw-dir", str(raw / "coco"),
            "--shards-dir", str(tmp_path / "shards"),
            "--storage-path", str(tmp_path / "runs"),
            "--epochs", "2",
            "--batch-size-per-worker", "8",
            "--order-block-rows", "8",
            "--shuffle-buffer-rows", "8",
            "--warmup-steps", "0",
        ]
    )  # fmt: skip
    assert result["rows"] == {"train": 48, "val": 12, "test": 0}
    assert result["split"] == "val" and result["steps"] == 2 * 3
    for key in ("i2t_r@1", "t2i_r@1", "i2t_r@5", "t2i_r@5", "i2t_r@10", "t2i_r@10"):
        assert 0.0 <= result[key] <= 1.0
        assert 0.0 < result[f"chance_{key}"] <= 1.0
        assert 0.0 <= result[f"baseline_untrained_{key}"] <= 1.0
    assert result["chance_t2i_r@1"] == pytest.approx(1 / 12)
    assert 0.0 <= result["best_val_r_mean"] <= 1.0


@pytest.mark.slow
def test_train_vgbert_both_stages_on_a_tiny_visual_genome_corpus(ray_session, tmp_path):
    """One Visual Genome corpus serves both stages: region descriptions as stage-1 captions,
    objects and relations in stage 2; the JSON line carries every stage-2 metric next to its
    chance level, the untrained heads and (relations) the majority predicate."""
    raw = make_image_text_corpus(
        tmp_path / "raw", ImageTextSampleConfig(train_images=48, val_images=16, image_size=64)
    )
    result = load_job("train_vgbert").main(
        [
            "--raw-dir", str(raw / "visual_genome"),
            "--format", "visual_genome",
            "--shards-dir", str(tmp_path / "shards"),
            "--storage-path", str(tmp_path / "runs"),
            "--epochs", "1",
            "--stage2-epochs", "1",
            "--batch-size-per-worker", "8",
            "--order-block-rows", "8",
            "--shuffle-buffer-rows", "8",
            "--warmup-steps", "0",
        ]
    )  # fmt: skip
    rows = result["stage2_rows"]
    assert result["rows"] == rows and rows["train"] > 0 and rows["val"] > 0
    assert result["stage2_split"] == ("test" if rows["test"] else "val")
    assert result["stage2_object_classes"] == 6
    assert sorted(result["stage2_predicates"]) == sorted(
        ["left of", "right of", "above", "below", "bigger than", "smaller than"]
    )
    assert result["stage2_steps"] == rows["train"] // 16
    assert result["chance_relation_acc1"] == pytest.approx(1 / 6)
    assert result["chance_relation_acc5"] == pytest.approx(5 / 6)
    for key in ("object_retrieval_acc", "pointing_acc", "object_class_acc", "relation_acc1"):
        assert 0.0 <= result[key] <= 1.0
        assert 0.0 < result[f"chance_{key}"] < 1.0
        assert 0.0 <= result[f"baseline_untrained_{key}"] <= 1.0
    for k in (1, 5):
        assert 0.0 <= result[f"baseline_majority_relation_acc{k}"] <= 1.0
    assert result["relations"] > 0 and result["retrieval_phrases"] > 0
    assert result["stage2_best_checkpoint"].startswith(str(tmp_path / "runs"))
