"""VG-BERT stage-2 heads: the phrase -> region attention, the bilinear relation operator with
unit-norm matrices, and the grounding model's losses (streams frozen unless asked)."""

from __future__ import annotations

import pytest
import torch

from crossmodal_ray.models.vgbert.config import VGBERTConfig
from crossmodal_ray.models.vgbert.grounding_config import GroundingConfig
from crossmodal_ray.models.vgbert.grounding_model import VGBERTGroundingModel, masked_mean
from crossmodal_ray.models.vgbert.model import VGBERTModel
from crossmodal_ray.models.vgbert.phrase_attention import PhraseRegionAttention
from crossmodal_ray.models.vgbert.relation_operator import BilinearRelationOperator


def test_phrase_attention_maps_are_distributions_over_the_image_regions():
    torch.manual_seed(0)
    attention = PhraseRegionAttention(32, heads=8)
    objects, maps = attention(torch.randn(5, 32), torch.randn(5, 16, 32))
    assert objects.shape == (5, 32) and maps.shape == (5, 16)
    assert torch.allclose(maps.sum(1), torch.ones(5), atol=1e-5) and (maps >= 0).all()


def test_phrase_attention_follows_the_matching_region():
    """A query equal to one region's key direction, scaled up, puts its mass on that region."""
    torch.manual_seed(0)
    attention = PhraseRegionAttention(16, heads=1)
    with torch.no_grad():
        attention.attention.in_proj_weight.copy_(torch.eye(16).repeat(3, 1))
        attention.attention.in_proj_bias.zero_()
        attention.rows.zero_()  # content only: no position term in the keys
        attention.cols.zero_()
    regions = torch.eye(16)[None].repeat(2, 1, 1)
    _, maps = attention(torch.stack([20 * torch.eye(16)[3], 20 * torch.eye(16)[11]]), regions)
    assert maps.argmax(1).tolist() == [3, 11] and float(maps.detach().max(1).values.min()) > 0.9


def test_retrieved_objects_carry_the_position_of_their_cell():
    """Identical region contents: what the phrase retrieves differs only by where it looks."""
    torch.manual_seed(0)
    attention = PhraseRegionAttention(16, heads=1, grid=4)
    regions = torch.ones(2, 16, 16)
    with torch.no_grad():
        attention.attention.in_proj_weight.copy_(torch.eye(16).repeat(3, 1))
        attention.attention.in_proj_bias.zero_()
    keys = attention.positions(16)
    objects, maps = attention(torch.stack([30 * keys[0], 30 * keys[15]]), regions)
    assert maps.argmax(1).tolist() == [0, 15]
    assert not torch.allclose(objects[0], objects[1], atol=1e-3)


def test_relation_matrices_have_unit_frobenius_norm_and_scores_are_bounded():
    torch.manual_seed(0)
    operator = BilinearRelationOperator(24, num_predicates=6, relation_dim=32)
    with torch.no_grad():
        operator.matrices.mul_(17.0)
    norms = operator.normalized_matrices().flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.ones(6), atol=1e-5)
    scores = operator(torch.randn(40, 24), torch.randn(40, 24))
    assert scores.shape == (40, 6)
    assert float(scores.abs().max()) <= float(operator.log_scale.exp()) + 1e-4


def test_relation_operator_is_asymmetric_in_subject_and_object():
    torch.manual_seed(0)
    operator = BilinearRelationOperator(8, num_predicates=2, relation_dim=8)
    a, b = torch.randn(10, 8), torch.randn(10, 8)
    assert not torch.allclose(operator(a, b), operator(b, a))


def test_masked_mean_ignores_padding_and_empty_masks():
    features = torch.arange(12.0).reshape(1, 3, 4).repeat(2, 1, 1)
    mask = torch.tensor([[True, False, True], [False, False, False]])
    pooled = masked_mean(features, mask)
    assert torch.allclose(pooled[0], (features[0, 0] + features[0, 2]) / 2)
    assert torch.equal(pooled[1], torch.zeros(4))


def _model(train_streams: bool) -> VGBERTGroundingModel:
    torch.manual_seed(0)
    base = VGBERTModel(VGBERTConfig.small(attention_heads=4))
    grounding = GroundingConfig(
        object_classes=["circle", "square", "star"],
        predicates=["left of", "right of", "above", "below"],
        train_streams=train_streams,
    )
    return VGBERTGroundingModel(base, grounding)


def _inputs(model: VGBERTGroundingModel) -> dict[str, torch.Tensor]:
    from crossmodal_ray.training.media_collate import tokenize

    tokens = tokenize(
        ["red circle", "blue square", "green star", "red circle"],
        model.config.resolved_text_model(),
        8,
    )
    return dict(
        images=torch.randn(2, 3, 64, 64),
        phrase_ids=tokens["input_ids"],
        phrase_attention=tokens["attention_mask"],
        phrase_words=tokens["word_mask"],
        object_image=torch.tensor([0, 0, 1, 1]),
        object_class=torch.tensor([0, 1, 2, 0]),
        object_cells=torch.eye(16)[[0, 5, 10, 15]],
        relation_subject=torch.tensor([0, 3]),
        relation_object=torch.tensor([1, 2]),
        relation_predicate=torch.tensor([0, 3]),
    )


@pytest.mark.parametrize("train_streams", [False, True])
def test_grounding_losses_train_the_heads_and_the_streams_only_when_asked(train_streams):
    model = _model(train_streams)
    model.train()
    assert model.base.training is train_streams
    out = model(**_inputs(model))
    for term in ("object_loss", "pair_loss", "relation_loss", "localization_loss"):
        assert torch.isfinite(out[term]) and float(out[term]) > 0
    assert out["attention"].shape == (4, 16) and out["relation_logits"].shape == (2, 4)
    out["loss"].backward()
    heads = [model.phrase_attention, model.object_classifier, model.relations]
    assert all(p.grad is not None for h in heads for p in h.parameters())
    stream_grads = [p.grad for p in model.base.visual.parameters() if p.requires_grad]
    assert bool(stream_grads) is train_streams
    assert all(g is not None and g.abs().sum() > 0 for g in stream_grads)


def test_a_batch_without_relations_still_gives_a_differentiable_loss():
    model = _model(False)
    inputs = _inputs(model)
    for key in ("relation_subject", "relation_object", "relation_predicate"):
        inputs[key] = inputs[key][:0]
    out = model(**inputs)
    assert float(out["relation_loss"]) == 0.0
    out["loss"].backward()
    assert model.relations.matrices.grad is not None
