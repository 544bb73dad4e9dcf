"""Typed configuration of VG-BERT's stage 2: object retrieval and relation inference.

Zhang, Choi, Han, Liu (NeurIPS 2021), section 3.3: after the two streams are aligned by the
contrastive stage, a phrase attends to the image's regions (cross-modal attention, 8 heads) to
retrieve its object, and a bilinear relational operator ``R_k`` (one ``32 x 32`` matrix per
predicate ``k``, each L2-normalised) scores a (subject, object) pair of retrieved objects.
Stage 2 minimises ``L = w_obj * L_object + w_pair * L_pair + w_rel * L_relation``:

- ``L_object``: cross-entropy of the attended visual feature's object class;
- ``L_pair``: symmetric InfoNCE between attended visual features and their phrase features
  over the batch's objects (temperature ``sigma`` of stage 1);
- ``L_relation``: cross-entropy over the K predicates of ``s^T R_k o``;

plus, where the paper is silent, ``w_loc * L_locate``: the attention map supervised by the
object's box (see ``grounding_model.py``).

Vocabularies (object classes, predicates) come from the training split: the most frequent
``max_object_classes`` names and ``max_predicates`` predicates (150 and 50: the Visual Genome
"VG150" convention of Xu et al., CVPR 2017); objects and relations outside them are left out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class GroundingConfig:
    """Stage-2 hyper-parameters (each a flag of ``jobs/train_vgbert.py``).

    Attributes:
        object_classes: Object-class vocabulary (filled from the training split).
        predicates: Predicate vocabulary (filled from the training split).
        max_object_classes: Size cap of the object-class vocabulary.
        max_predicates: Size cap of the predicate vocabulary.
        relation_dim: Side of each relation matrix ``R_k`` (32 in the paper).
        phrase_attention_heads: Heads of the phrase -> region attention (8 in the paper).
        object_loss_weight: ``w_obj``.
        pair_loss_weight: ``w_pair``.
        relation_loss_weight: ``w_rel``.
        localization_loss_weight: ``w_loc`` (0: attention learned from the other terms only).
        train_streams: Fine-tune the visual and language streams in stage 2 too (default: only
            the stage-2 heads learn, so the grounded space of stage 1, which the exported text
            encoder carries, is kept).
        phrase_attributes: Attributes put before an object's name in its phrase ("small red
            circle"); 0: the name alone.
        max_phrase_words: Tokens per object phrase.
        max_objects_per_image: Objects per image a step uses (relation endpoints first).
        max_relations_per_image: Relations per image a step uses.
    """

    object_classes: list[str] = field(default_factory=list)
    predicates: list[str] = field(default_factory=list)
    max_object_classes: int = 150
    max_predicates: int = 50
    relation_dim: int = 32
    phrase_attention_heads: int = 8
    object_loss_weight: float = 1.0
    pair_loss_weight: float = 1.0
    relation_loss_weight: float = 1.0
    localization_loss_weight: float = 1.0
    train_streams: bool = False
    phrase_attributes: int = 2
    max_phrase_words: int = 8
    max_objects_per_image: int = 16
    max_relations_per_image: int = 16

    def __post_init__(self) -> None:
        if self.relation_dim < 1 or self.phrase_attention_heads < 1:
            raise ValueError("relation_dim and phrase_attention_heads must be positive")
        if self.max_objects_per_image < 2 or self.max_relations_per_image < 1:
            raise ValueError("need at least 2 objects and 1 relation per image")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GroundingConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})
