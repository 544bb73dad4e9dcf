"""VG-BERT stage 1 task: the collate (JPEG bytes -> normalised images, one tokenized caption per
image), retrieval metrics of an untrained model next to their chance level, and a 2-worker
Ray Train run that validates by retrieval and ranks its checkpoints by it."""

from __future__ import annotations

import json
from math import comb
from pathlib import Path

import numpy as np
import pytest
import torch

from crossmodal_ray.models.vgbert.config import VGBERTConfig
from crossmodal_ray.models.vgbert.model import VGBERTModel
from crossmodal_ray.pipelines.sample_corpus.image_text.corpus import (
    ImageTextSampleConfig,
    make_image_text_corpus,
)
from crossmodal_ray.training.tasks.vgbert import VGBERTTask
from crossmodal_ray.training.tasks.vgbert_collate import collate_pairs
from crossmodal_ray.training.tasks.vgbert_retrieval import retrieval_metrics

SMALL = dict(attention_heads=4)


def coco_rows(root: Path, split: str) -> list[dict]:
    """Shard-like rows (JPEG bytes, all captions) read straight from the COCO files."""
    folder = f"{split}2017"
    captions = json.loads((root / "annotations" / f"captions_{folder}.json").read_text())
    by_image: dict[int, list[str]] = {}
    for entry in captions["annotations"]:
        by_image.setdefault(entry["image_id"], []).append(entry["caption"])
    return [
        {
            "sample_id": str(image["id"]),
            "image": (root / folder / image["file_name"]).read_bytes(),
            "captions": by_image[image["id"]],
        }
        for image in captions["images"]
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("image_text")
    make_image_text_corpus(out, ImageTextSampleConfig(train_images=32, val_images=8, image_size=64))
    return {split: coco_rows(out / "coco", split) for split in ("train", "val")}


def _as_batch(rows: list[dict]) -> dict:
    return {
        "image": np.array([r["image"] for r in rows], dtype=object),
        "captions": np.array([np.array(r["captions"]) for r in rows], dtype=object),
    }


def test_collate_gives_normalised_images_and_one_caption_per_image(corpus):
    config = VGBERTConfig.small(**SMALL)
    batch = collate_pairs(
        _as_batch(corpus["train"][:4]), config.resolved_text_model(), 64, config.max_words
    )
    assert batch["images"].shape == (4, 3, 64, 64)
    assert -3 < float(batch["images"].mean()) < 3 and float(batch["images"].std()) > 0.1
    assert batch["input_ids"].shape == batch["word_mask"].shape == (4, config.max_words)
    assert (batch["word_mask"].sum(1) >= 2).all()
    assert not (batch["word_mask"] & ~batch["attention_mask"].bool()).any()


def test_untrained_retrieval_metrics_sit_next_to_chance(corpus):
    torch.manual_seed(0)
    model = VGBERTModel(VGBERTConfig.small(**SMALL))
    rows = [_as_batch(corpus["val"][:4]), _as_batch(corpus["val"][4:])]
    metrics = retrieval_metrics(model, rows, torch.device("cpu"), prefix="val_")
    for key in ("i2t_r@1", "t2i_r@1", "i2t_r@10", "t2i_r@10"):
        assert 0.0 <= metrics[f"val_{key}"] <= 1.0
        assert 0.0 < metrics[f"val_chance_{key}"] <= 1.0
    assert metrics["val_chance_t2i_r@1"] == pytest.approx(1 / 8)
    # 10 random captions of 40 miss all 5 of an image with probability C(35, 10) / C(40, 10).
    assert metrics["val_chance_i2t_r@10"] == pytest.approx(1 - comb(35, 10) / comb(40, 10))
    assert 0.0 <= metrics["val_r_mean"] <= 1.0


@pytest.mark.slow
def test_two_worker_training_validates_by_retrieval(ray_session, corpus, tmp_path):
    from crossmodal_ray.training.loop_config import TrainLoopConfig
    from crossmodal_ray.training.trainer import best_checkpoint, run_training

    task = VGBERTTask(VGBERTConfig.small(**SMALL).to_dict())
    loop = TrainLoopConfig(
        run_name="vgbert",
        storage_path=str(tmp_path / "runs"),
        num_workers=2,
        epochs=2,
        batch_size_per_worker=8,
        warmup_steps=0,
        checkpoint_every_steps=1000,
        log_every_steps=1,
        max_failures=0,
        shuffle_buffer_rows=8,
        order_block_rows=4,
    )
    result = run_training(
        task,
        loop,
        ray_session.data.from_items(corpus["train"]),
        extra_datasets={"val": ray_session.data.from_items(corpus["val"])},
    )
    assert result.error is None
    assert result.metrics["global_step"] == 2 * 2  # 32 rows: 2 steps of 2 x 8 per epoch
    assert 0.0 <= result.metrics["val_r_mean"] <= 1.0
    assert "val_i2t_r@1" in result.metrics
    assert best_checkpoint(result, task) is not None
