"""VG-BERT stage 2: the aligned streams plus phrase -> region attention and relation operator.

Section 3.3 of Zhang et al. (NeurIPS 2021). Given a batch of images, the phrases of their
objects (each with the row of its image) and relations between those objects, the model

1. encodes regions ``v`` [B, R, d] and phrase words, pools each phrase to ``q`` (mean of its
   word features, padding and special tokens masked);
2. retrieves each object: ``o_n, a_n = Attention(q_n, v[image_n])`` (8 heads;
   :class:`~.phrase_attention.PhraseRegionAttention`);
3. classifies ``o_n`` over the object classes (``L_object``, cross-entropy), aligns ``o_n`` with
   ``q_n`` against the batch's other objects (``L_pair``, symmetric InfoNCE at ``sigma``), and
   scores each relation's (subject, object) pair with ``R_k`` (``L_relation``, cross-entropy;
   :class:`~.relation_operator.BilinearRelationOperator`);
4. where the paper is silent: supervises the attention map with the object's box
   (``L_locate``, cross-entropy between ``a_n`` and the box's share of each region cell,
   normalised). Without it the attention learned from the three losses above stayed near
   chance on the sample corpus (pointing 0.32 against 0.22) and so did the relations.

With ``train_streams=False`` (default) the streams are frozen and kept in eval mode (BatchNorm
statistics and dropout as stage 1 left them): stage 2 learns its heads on stage 1's space.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmodal_ray.models.vgbert.grounding_config import GroundingConfig
from crossmodal_ray.models.vgbert.model import VGBERTModel
from crossmodal_ray.models.vgbert.phrase_attention import PhraseRegionAttention
from crossmodal_ray.models.vgbert.relation_operator import BilinearRelationOperator


def masked_mean(features: Tensor, mask: Tensor) -> Tensor:
    """Mean over the masked-in positions: [N, W, d], [N, W] -> [N, d] (0 for an empty mask)."""
    weights = mask.to(features.dtype)
    return (features * weights[..., None]).sum(1) / weights.sum(1, keepdim=True).clamp_min(1.0)


def pair_info_nce(objects: Tensor, phrases: Tensor, temperature: float) -> Tensor:
    """Symmetric InfoNCE between retrieved objects and their phrases (cosine / temperature)."""
    logits = F.normalize(objects, dim=-1) @ F.normalize(phrases, dim=-1).T / temperature
    targets = torch.arange(len(objects), device=objects.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


def localization_loss(attention: Tensor, cells: Tensor) -> Tensor:
    """Cross-entropy between attention maps [N, R] and the boxes' cell coverage [N, R]
    (normalised to a distribution); objects whose box covers no cell are left out."""
    mass = cells.sum(1)
    keep = mass > 0
    if not keep.any():
        return attention.sum() * 0.0
    target = cells[keep] / mass[keep, None]
    return -(target * attention[keep].clamp_min(1e-8).log()).sum(1).mean()


class VGBERTGroundingModel(nn.Module):
    """Stage-1 streams (``self.base``) + stage-2 heads (see the module docstring)."""

    def __init__(self, base: VGBERTModel, grounding: GroundingConfig) -> None:
        super().__init__()
        if not grounding.object_classes or not grounding.predicates:
            raise ValueError("stage 2 needs object-class and predicate vocabularies")
        self.base = base
        self.grounding = grounding
        self.config = base.config
        dim = base.language.dim
        self.phrase_attention = PhraseRegionAttention(
            dim, grounding.phrase_attention_heads, base.config.region_grid
        )
        self.object_classifier = nn.Linear(dim, len(grounding.object_classes))
        self.relations = BilinearRelationOperator(
            dim, len(grounding.predicates), grounding.relation_dim
        )
        if not grounding.train_streams:
            self.base.requires_grad_(False)

    def train(self, mode: bool = True) -> VGBERTGroundingModel:
        super().train(mode)
        if not self.grounding.train_streams:
            self.base.eval()
        return self

    def encode(
        self, images: Tensor, phrase_ids: Tensor, phrase_attention: Tensor, phrase_words: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Regions [B, R, d] and pooled phrase features [N, d]."""
        with torch.set_grad_enabled(self.grounding.train_streams and torch.is_grad_enabled()):
            regions = self.base.encode_images(images)
            words = self.base.encode_text(phrase_ids, phrase_attention)
        return regions, masked_mean(words, phrase_words)

    def forward(
        self,
        images: Tensor,
        phrase_ids: Tensor,
        phrase_attention: Tensor,
        phrase_words: Tensor,
        object_image: Tensor,
        object_class: Tensor,
        object_cells: Tensor,
        relation_subject: Tensor,
        relation_object: Tensor,
        relation_predicate: Tensor,
    ) -> dict[str, Tensor]:
        """Losses (``loss`` and its three terms) and what evaluation scores: ``attention``
        [N, R], ``object_logits`` [N, C], ``relation_logits`` [M, K]."""
        regions, phrases = self.encode(images, phrase_ids, phrase_attention, phrase_words)
        objects, attention = self.phrase_attention(phrases, regions[object_image])
        object_logits = self.object_classifier(objects)
        relation_logits = self.relations(objects[relation_subject], objects[relation_object])
        zero = sum(p.sum() for p in self.parameters() if p.requires_grad) * 0.0
        known = object_class >= 0
        object_loss = (
            F.cross_entropy(object_logits[known], object_class[known]) if known.any() else zero
        )
        locate_loss = localization_loss(attention, object_cells) if len(objects) else zero
        pair_loss = (
            pair_info_nce(objects, phrases, self.config.temperature) if len(objects) > 1 else zero
        )
        relation_loss = (
            F.cross_entropy(relation_logits, relation_predicate)
            if len(relation_predicate)
            else zero
        )
        g = self.grounding
        loss = (
            g.object_loss_weight * object_loss
            + g.pair_loss_weight * pair_loss
            + g.relation_loss_weight * relation_loss
            + g.localization_loss_weight * locate_loss
            + zero
        )
        return {
            "loss": loss,
            "object_loss": object_loss.detach(),
            "pair_loss": pair_loss.detach(),
            "relation_loss": relation_loss.detach(),
            "localization_loss": locate_loss.detach(),
            "attention": attention.detach(),
            "object_logits": object_logits.detach(),
            "relation_logits": relation_logits.detach(),
        }
