"""COOLANT's modules: outer-product fusion, ambiguity score and attention target, the auxiliary
similarity module's soft targets (one distribution per direction), and the whole model's losses
for COOLANT and the single-modality baselines."""

from __future__ import annotations

import pytest
import torch

from crossmodal_ray.models.coolant.ambiguity import AmbiguityScore, gaussian_kl
from crossmodal_ray.models.coolant.config import CoolantConfig
from crossmodal_ray.models.coolant.fusion import OuterProductFusion
from crossmodal_ray.models.coolant.model import CoolantModel, attention_target
from crossmodal_ray.models.coolant.similarity import CrossModalSimilarity
from crossmodal_ray.training.media_collate import tokenize


def test_fusion_is_a_row_softmax_over_the_outer_product_then_max_pooled():
    torch.manual_seed(0)
    fusion = OuterProductFusion(4, 3)
    with torch.no_grad():
        fusion.out.weight.copy_(torch.eye(3, 4))
        fusion.out.bias.zero_()
    text, image = torch.randn(2, 4), torch.randn(2, 4)
    expected = []
    for b in range(2):
        m = torch.softmax(torch.outer(text[b], image[b]) / 2.0, dim=1)
        expected.append((m * image[b][None, :]).max(dim=0).values[:3])
    assert torch.allclose(fusion(text, image), torch.stack(expected), atol=1e-6)


def test_attention_target_moves_from_the_modalities_to_the_fusion_with_ambiguity():
    target = attention_target(torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(target.sum(1), torch.ones(3))
    assert torch.allclose(target[0], torch.tensor([0.5, 0.5, 0.0]))
    assert torch.allclose(target[2], torch.tensor([0.0, 0.0, 1.0]))
    assert target[1, 2] == pytest.approx(1 / 3)


def test_gaussian_kl_is_zero_for_equal_and_positive_for_different_gaussians():
    mu, logvar = torch.randn(3, 5), torch.randn(3, 5)
    assert torch.allclose(gaussian_kl(mu, logvar, mu, logvar), torch.zeros(3), atol=1e-6)
    assert (gaussian_kl(mu, logvar, mu + 1.0, logvar) > 0).all()


def test_ambiguity_score_lies_in_0_1_and_its_training_separates_matched_from_shifted_pairs():
    torch.manual_seed(0)
    module = AmbiguityScore(8, latent_dim=4)
    text = torch.randn(64, 8)
    image = text @ torch.randn(8, 8) * 0.5  # image determined by its text
    real = torch.ones(64, dtype=torch.bool)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    for _ in range(200):
        optimizer.zero_grad()
        module.training_loss(text, image, real).backward()
        optimizer.step()
    with torch.no_grad():
        s_matched = module(text, image)
        s_shifted = module(text, image.roll(1, dims=0))
    assert ((s_matched >= 0) & (s_matched < 1)).all()
    assert float(s_matched.mean()) < 0.5 * float(s_shifted.mean())


def test_soft_targets_are_one_distribution_per_direction():
    torch.manual_seed(0)
    module = CrossModalSimilarity(16, 8)
    text, image = torch.randn(6, 16), torch.randn(6, 16)
    i2t, t2i = module.soft_targets(text, image, 0.07)
    assert torch.allclose(i2t.sum(1), torch.ones(6)) and torch.allclose(t2i.sum(1), torch.ones(6))
    assert not torch.allclose(i2t, t2i.T)  # image->text rows are not text->image rows
    rows_i2t, rows_t2i = module.soft_targets(text, image, 0.07, rows=slice(2, 4))
    assert torch.allclose(rows_i2t, i2t[2:4]) and torch.allclose(rows_t2i, t2i[2:4])


def test_similarity_pair_loss_uses_real_pairs_as_positives_and_shifted_images_as_negatives():
    module = CrossModalSimilarity(4, 4)
    x = torch.randn(5, 4, requires_grad=True)
    loss = module.pair_loss(x, x, torch.tensor([True, False, True, False, True]), margin=0.2)
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in module.parameters())


def _inputs(config: CoolantConfig) -> tuple:
    tokens = tokenize(
        ["a red circle at the rally", "blue square", "green star above", "two shapes"],
        config.resolved_text_model(),
        config.max_words,
    )
    labels = torch.tensor([0, 1, 0, 1])
    return torch.randn(4, 3, 64, 64), tokens["input_ids"], tokens["attention_mask"], labels


def test_coolant_losses_and_the_auxiliary_modules_own_their_gradients():
    torch.manual_seed(0)
    config = CoolantConfig.small()
    model = CoolantModel(config)
    out = model(*_inputs(config))
    for key in ("detection_loss", "itc_loss", "soft_loss", "auxiliary_loss"):
        assert torch.isfinite(out[key]) and float(out[key]) > 0
    assert out["logits"].shape == (4, 2)
    # The auxiliary losses see detached features: alone they move no encoder parameter.
    images, ids, mask, labels = _inputs(config)
    features = model.features(images, ids, mask)
    real = labels == 0
    aux = model.similarity.pair_loss(
        features["t"].detach(), features["v"].detach(), real, config.similarity_margin
    ) + model.ambiguity.training_loss(features["t"].detach(), features["v"].detach(), real)
    model.zero_grad()
    aux.backward()
    assert all(p.grad is None for p in model.image.parameters())
    assert any(p.grad is not None for p in model.similarity.parameters())
    assert model.auxiliary_modules() == [model.similarity, model.ambiguity]


def test_without_soft_targets_the_soft_term_is_zero():
    torch.manual_seed(0)
    config = CoolantConfig.small(soft_target_weight=0.0)
    out = CoolantModel(config)(*_inputs(config))
    assert float(out["soft_loss"]) == 0.0 and float(out["itc_loss"]) > 0


@pytest.mark.parametrize("modality", ["text", "image"])
def test_single_modality_baselines_have_one_encoder_and_a_classifier(modality):
    torch.manual_seed(0)
    config = CoolantConfig.small(modality=modality)
    model = CoolantModel(config)
    assert (model.text is None) is (modality == "image")
    assert (model.image is None) is (modality == "text")
    assert model.auxiliary_modules() == []
    out = model(*_inputs(config))
    out["loss"].backward()
    assert out["logits"].shape == (4, 2) and torch.isfinite(out["loss"])
