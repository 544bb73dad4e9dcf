"""COOLANT task pieces: the collate (tokens or precomputed text features), the precomputed
features equal to what the frozen text encoder computes in the model, the two optimisers, and
classification metrics with the majority baseline."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from crossmodal_ray.models.coolant.config import CoolantConfig
from crossmodal_ray.models.coolant.model import CoolantModel
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.media_collate import tokenize
from crossmodal_ray.training.metrics.classification import classification_metrics, majority_class
from crossmodal_ray.training.tasks.coolant import CoolantTask
from crossmodal_ray.training.tasks.coolant_collate import collate_posts, post_text
from crossmodal_ray.training.tasks.coolant_text_features import TextFeatureExtractor


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def _rows() -> dict[str, np.ndarray]:
    return {
        "image": np.array([_jpeg((200, 0, 0)), _jpeg((0, 0, 200)), _jpeg((0, 200, 0))], object),
        "text": np.array(
            ["a red circle #flood http://t.co/H24hZxb6kY", "a blue square", "green star"], object
        ),
        "label": np.array([0, 1, 0], np.int8),
    }


def test_collate_tokenizes_or_passes_precomputed_text_features():
    config = CoolantConfig.small()
    batch = collate_posts(_rows(), config)
    size = config.image_size
    assert batch["images"].shape == (3, 3, size, size) and batch["labels"].tolist() == [0, 1, 0]
    assert batch["input_ids"].shape == (3, config.max_words)
    with_features = {**_rows(), "text_features": np.ones((3, 384), np.float32)}
    batch = collate_posts(with_features, config)
    assert "input_ids" not in batch and batch["text_features"].shape == (3, 384)


def test_precomputed_text_features_give_the_models_own_text_path():
    torch.manual_seed(0)
    config = CoolantConfig.small()
    rows = _rows()
    extracted = TextFeatureExtractor(config.resolved_text_model(), config.max_words)(dict(rows))
    model = CoolantModel(config).eval()
    texts = ["a red circle #flood", "a blue square", "green star"]  # the links removed
    assert [post_text(t) for t in rows["text"]] == texts
    tokens = tokenize(texts, config.resolved_text_model(), config.max_words)
    with torch.no_grad():
        direct = model.text(tokens["input_ids"], tokens["attention_mask"])
        cached = model.text(pooled=torch.from_numpy(extracted["text_features"]))
    assert torch.allclose(direct, cached, atol=1e-5)


def test_the_auxiliary_modules_have_their_own_optimizer():
    config = CoolantConfig.small()
    model = CoolantModel(config)
    specs = CoolantTask(config.to_dict()).optimizers(model, TrainLoopConfig())
    assert [s.name for s in specs] == ["main", "auxiliary"]
    aux = {id(p) for g in specs[1].groups for p in g.params}
    main = {id(p) for g in specs[0].groups for p in g.params}
    assert not aux & main
    assert aux == {id(p) for m in model.auxiliary_modules() for p in m.parameters()}
    baseline = CoolantModel(CoolantConfig.small(modality="text"))
    names = [s.name for s in CoolantTask({"modality": "text"}).optimizers(baseline, None)]
    assert names == ["main"]


def test_classification_metrics_and_majority_baseline():
    metrics = classification_metrics(
        np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]), ("real", "fake")
    )
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["precision_fake"] == 1.0 and metrics["recall_fake"] == 0.5
    assert metrics["f1_real"] == pytest.approx(0.8) and metrics["f1_fake"] == pytest.approx(2 / 3)
    never = classification_metrics(np.array([1, 0]), np.array([0, 0]), ("real", "fake"))
    assert never["precision_fake"] == 0.0 and never["f1_fake"] == 0.0
    assert majority_class(np.array([1, 0, 1])) == 1 and majority_class(np.array([0, 1])) == 0


def test_text_features_for_every_split_in_file_order(ray_session):
    """One pass over the distinct texts of all splits gives every row (a repeated text too)
    exactly the features the extractor computes for it, rows in their original order."""
    import ray

    from crossmodal_ray.training.tasks.coolant_text_features import with_text_features

    config = CoolantConfig.small()
    texts = [f"post {i} names a {c} circle" for i, c in enumerate(["red", "blue"] * 20)]
    texts[7] = texts[3]  # a repeated tweet
    splits = {
        "train": ray.data.from_items([{"text": t, "row": i} for i, t in enumerate(texts[:30])]),
        "val": ray.data.from_items([{"text": t, "row": i} for i, t in enumerate(texts[30:])]),
    }
    out = with_text_features(splits, config.resolved_text_model(), config.max_words, 2)
    extractor = TextFeatureExtractor(config.resolved_text_model(), config.max_words)
    for name, start in (("train", 0), ("val", 30)):
        rows = out[name].take_all()
        assert [r["row"] for r in rows] == list(range(len(rows)))
        got = np.stack([r["text_features"] for r in rows])
        expected = extractor({"text": np.array(texts[start : start + len(rows)], object)})
        np.testing.assert_allclose(got, expected["text_features"], atol=1e-5)
    train = out["train"].take_all()
    np.testing.assert_array_equal(train[3]["text_features"], train[7]["text_features"])
