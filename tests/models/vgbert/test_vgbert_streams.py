"""VG-BERT streams: region grid and 2-D positions, VGG weights loading and freezing, the bundled
BERT-family encoder loaded offline with the paper's freezing, and one contrastive step."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import vgg16

from crossmodal_ray.models.vgbert.config import VGBERTConfig, default_text_model_path
from crossmodal_ray.models.vgbert.language_stream import LanguageStream, encoder_layers
from crossmodal_ray.models.vgbert.model import VGBERTModel
from crossmodal_ray.models.vgbert.visual_stream import VisualStream, vgg16_trunk

CAPTIONS = ["a small red circle left of a blue square", "a large green triangle"]


def tokenize(texts, max_words=16):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(default_text_model_path())
    out = tokenizer(
        texts,
        padding="max_length",
        truncation=True,
        max_length=max_words,
        return_special_tokens_mask=True,
        return_tensors="pt",
    )
    word_mask = out["attention_mask"].bool() & ~out["special_tokens_mask"].bool()
    return out["input_ids"], out["attention_mask"], word_mask


def test_visual_stream_gives_one_feature_per_stride_16_region():
    torch.manual_seed(0)
    stream = VisualStream(dim=32, grid=4, heads=4)
    regions = stream(torch.randn(2, 3, 64, 64))
    assert regions.shape == (2, 16, 32)
    # The 2-D positions tell regions apart: the same image shifted gives other features.
    assert not torch.allclose(regions, stream(torch.roll(torch.randn(2, 3, 64, 64), 16, 3)))


def test_vgg_weights_load_into_the_trunk_and_are_frozen(tmp_path):
    torch.manual_seed(1)
    reference = vgg16(weights=None)
    path = tmp_path / "vgg16.pt"
    torch.save(reference.state_dict(), path)
    trunk = vgg16_trunk(str(path))
    assert torch.equal(trunk[0].weight, reference.features[0].weight)
    assert len(trunk) == len(reference.features) - 1  # no last max-pool
    config = VGBERTConfig(vgg_weights=str(path))
    assert config.vgg_frozen and not VGBERTConfig().vgg_frozen
    stream = VisualStream(32, 4, vgg_weights=str(path), freeze_vgg=config.vgg_frozen)
    assert not any(p.requires_grad for p in stream.trunk.parameters())
    assert all(p.requires_grad for p in stream.project.parameters())
    with pytest.raises(FileNotFoundError, match="--vgg-weights"):
        vgg16_trunk(str(tmp_path / "missing.pt"))


def test_language_stream_loads_offline_with_the_papers_freezing():
    stream = LanguageStream(default_text_model_path(), trainable_layers=2, freeze_query_key=True)
    layers = encoder_layers(stream.encoder)
    assert stream.dim == 384 and len(layers) == 6
    assert not any(p.requires_grad for p in stream.encoder.embeddings.parameters())
    for index, layer in enumerate(layers):
        trained = index >= 4
        attention = layer.attention.self
        assert all(p.requires_grad == trained for p in attention.value.parameters())
        assert all(p.requires_grad == trained for p in layer.output.parameters())
        assert not any(p.requires_grad for p in attention.query.parameters())
        assert not any(p.requires_grad for p in attention.key.parameters())
    input_ids, attention_mask, word_mask = tokenize(CAPTIONS)
    words = stream(input_ids, attention_mask)
    assert words.shape == (2, 16, 384)
    assert word_mask.sum(1).tolist() == [9, 4]  # [CLS], [SEP] and padding are no words


def test_one_contrastive_step_trains_both_streams_but_not_frozen_projections():
    torch.manual_seed(0)
    model = VGBERTModel(VGBERTConfig(image_size=64, attention_heads=4, tile_size=1))
    images = torch.randn(2, 3, 64, 64)
    input_ids, attention_mask, word_mask = tokenize(CAPTIONS)
    loss = model(images, input_ids, attention_mask, word_mask)["loss"]
    assert torch.isfinite(loss)
    loss.backward()
    last = encoder_layers(model.language.encoder)[-1].attention.self
    assert model.visual.project.weight.grad.abs().sum() > 0
    assert model.visual.trunk[0].weight.grad.abs().sum() > 0  # random init: VGG trains
    assert last.value.weight.grad.abs().sum() > 0
    assert last.query.weight.grad is None
