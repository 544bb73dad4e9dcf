"""COOLANT (Wang et al., ACM MM 2023): contrastive alignment, fusion and ambiguity-aware
detection of fake posts from their text and image.

For a batch of posts (text, image, label 1 = fake)::

    t, v    = TextEncoder(text), ImageEncoder(image)                       # 128-d each
    a_t,a_v = aligners(t), aligners(v)                                     # 64-d
    L_align = L_itc(a_v, a_t) + lambda * L_soft(a_v, a_t; Q_i2t, Q_t2i)    # global pool
    f       = OuterProductFusion(a_t, a_v)
    s       = AmbiguityScore(t, v)                                         # in [0, 1)
    w       = softmax(W [h_t; h_v; f])                                     # over 3 views
    y       = classifier([sum_k w_k h_k ; cos(a_t, a_v) / tau ; s / tau])
    L_det   = CE(y, label) + 0.5 * KL([1-s, 1-s, s] / (2-s) || w)
    loss    = L_det + contrastive_weight * L_align + L_aux

Where the paper is silent (choices of this project): the classifier also sees how well the
post's text and image agree (the cosine of the aligned vectors and the ambiguity score, both
times the alignment's logit scale 1/tau: a unit-range scalar needs a weight near 10 to move a
logit, which AdamW at 1e-3 reaches only after thousands of steps; unscaled, a classifier
trained for a few hundred steps ignored a cosine that split the training posts perfectly), and
the positives of ``L_itc`` are the real posts' pairs only (a fake post's text and image are no
matching pair to pull together). ``L_aux`` (the similarity module's cosine-embedding loss and the ambiguity encoders' loss) sees
detached features and owns its parameters: the task gives it an optimiser of its own.
``Q_i2t, Q_t2i`` come from the similarity module (:mod:`.similarity`), detached. The negatives of
``L_itc`` / ``L_soft`` are every worker's posts (gather with gradient).

``modality="text"`` or ``"image"`` builds the single-modality baselines: that encoder, its
projection and a classifier, CE only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmodal_ray.models.coolant.ambiguity import AmbiguityScore
from crossmodal_ray.models.coolant.config import CoolantConfig
from crossmodal_ray.models.coolant.encoders import ImageEncoder, TextEncoder
from crossmodal_ray.models.coolant.fusion import OuterProductFusion
from crossmodal_ray.models.coolant.similarity import CrossModalSimilarity
from crossmodal_ray.models.losses.distributed import gather_with_grad, get_rank
from crossmodal_ray.models.losses.info_nce import local_global_info_nce
from crossmodal_ray.models.losses.soft_targets import local_global_soft_info_nce

NUM_CLASSES = 2
VIEWS = 3  # text, image, fusion
# The classifier also sees how well the post's text and image agree: the cosine of the aligned
# vectors and the ambiguity score (see the module docstring).
AGREEMENT_FEATURES = 2


def attention_target(ambiguity: Tensor) -> Tensor:
    """``[1 - s, 1 - s, s] / (2 - s)`` per post: [B, 3]."""
    s = ambiguity[:, None]
    raw = torch.cat([1.0 - s, 1.0 - s, s], dim=1)
    return raw / raw.sum(1, keepdim=True)


class CoolantModel(nn.Module):
    """See the module docstring; ``forward`` returns the losses and the class logits."""

    def __init__(self, config: CoolantConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.text = None
        self.image = None
        if c.modality in ("both", "text"):
            self.text = TextEncoder(
                c.resolved_text_model(), c.trainable_text_layers, c.projection_dim, c.dropout
            )
        if c.modality in ("both", "image"):
            self.image = ImageEncoder(
                c.image_backbone, c.image_weights, c.image_frozen, c.projection_dim, c.dropout
            )
        if c.modality != "both":
            self.classifier = nn.Sequential(
                nn.Dropout(c.dropout), nn.Linear(c.projection_dim, NUM_CLASSES)
            )
            return
        self.align_text = nn.Linear(c.projection_dim, c.aligned_dim)
        self.align_image = nn.Linear(c.projection_dim, c.aligned_dim)
        self.view_text = nn.Linear(c.projection_dim, c.aligned_dim)
        self.view_image = nn.Linear(c.projection_dim, c.aligned_dim)
        self.fusion = OuterProductFusion(c.aligned_dim, c.aligned_dim)
        self.view_attention = nn.Linear(VIEWS * c.aligned_dim, VIEWS)
        self.classifier = nn.Sequential(
            nn.Dropout(c.dropout), nn.Linear(c.aligned_dim + AGREEMENT_FEATURES, NUM_CLASSES)
        )
        self.similarity = CrossModalSimilarity(c.projection_dim, c.aligned_dim)
        self.ambiguity = AmbiguityScore(c.projection_dim, c.latent_dim)

    def auxiliary_modules(self) -> list[nn.Module]:
        """The modules trained by the auxiliary optimiser (empty for the baselines)."""
        return [self.similarity, self.ambiguity] if self.config.modality == "both" else []

    def features(
        self,
        images: Tensor,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        text_features: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Everything the classifier and the losses need (no collective: safe on one rank);
        ``text_features``: the frozen text encoder's pooled output, precomputed."""
        c = self.config
        if c.modality != "both":
            feature = (
                self.text(input_ids, attention_mask, text_features)
                if c.modality == "text"
                else self.image(images)
            )
            return {"logits": self.classifier(feature)}
        t = self.text(input_ids, attention_mask, text_features)
        v = self.image(images)
        a_t, a_v = self.align_text(t), self.align_image(v)
        views = torch.stack(
            [self.view_text(t), self.view_image(v), self.fusion(a_t, a_v)], dim=1
        )  # B x 3 x k
        weights = self.view_attention(views.flatten(1)).softmax(dim=1)
        ambiguity = self.ambiguity(t.detach(), v.detach()).detach()
        cosine = F.cosine_similarity(a_t, a_v, dim=-1)
        agreement = torch.stack([cosine, ambiguity], dim=1) / c.temperature
        logits = self.classifier(torch.cat([(weights[..., None] * views).sum(1), agreement], 1))
        return {
            "logits": logits,
            "t": t,
            "v": v,
            "a_t": a_t,
            "a_v": a_v,
            "weights": weights,
            "ambiguity": ambiguity,
        }

    @torch.no_grad()
    def classify(
        self,
        images: Tensor,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        text_features: Tensor | None = None,
    ) -> Tensor:
        """Class logits [B, 2] (1 = fake)."""
        return self.features(images, input_ids, attention_mask, text_features)["logits"]

    def forward(
        self,
        images: Tensor,
        input_ids: Tensor | None,
        attention_mask: Tensor | None,
        labels: Tensor,
        text_features: Tensor | None = None,
    ) -> dict[str, Tensor]:
        c = self.config
        f = self.features(images, input_ids, attention_mask, text_features)
        logits = f["logits"]
        if c.modality != "both":
            loss = F.cross_entropy(logits, labels)
            return {"loss": loss, "logits": logits.detach(), "detection_loss": loss.detach()}
        t, v, weights = f["t"], f["v"], f["weights"]
        real = labels == 0
        align = self.alignment_losses(t, v, f["a_t"], f["a_v"], real)
        aux = self.similarity.pair_loss(
            t.detach(), v.detach(), real, c.similarity_margin
        ) + self.ambiguity.training_loss(t.detach(), v.detach(), real)
        target = attention_target(f["ambiguity"])
        attention_kl = (
            (target * (target.clamp_min(1e-8).log() - weights.clamp_min(1e-8).log())).sum(1).mean()
        )
        detection = F.cross_entropy(logits, labels) + c.ambiguity_kl_weight * attention_kl
        alignment = align["itc"] + c.soft_target_weight * align["soft"]
        loss = detection + c.contrastive_weight * alignment + aux
        return {
            "loss": loss,
            "logits": logits.detach(),
            "detection_loss": detection.detach(),
            "itc_loss": align["itc"].detach(),
            "soft_loss": align["soft"].detach(),
            "auxiliary_loss": aux.detach(),
            "fusion_weight": weights[:, 2].mean().detach(),
        }

    def alignment_losses(
        self, t: Tensor, v: Tensor, a_t: Tensor, a_v: Tensor, real: Tensor
    ) -> dict[str, Tensor]:
        """``L_itc`` and ``L_soft`` of this rank's posts against every worker's posts. The
        positives of ``L_itc`` are the real posts' pairs only (a fake post's text and image are
        no matching pair to pull together); fake posts drop out of its pool."""
        c = self.config
        global_t, global_v = gather_with_grad(a_t), gather_with_grad(a_v)
        global_real = gather_with_grad(real.to(a_t.dtype)).bool()
        offset = get_rank() * len(a_t)
        itc = local_global_info_nce(
            a_v, a_t, global_v, global_t, offset, c.temperature, real, global_real
        )
        if c.soft_target_weight == 0:
            return {"itc": itc, "soft": itc.detach() * 0.0}
        pool_t, pool_v = gather_with_grad(t.detach()), gather_with_grad(v.detach())
        rows = slice(offset, offset + len(a_t))
        i2t, t2i = self.similarity.soft_targets(pool_t, pool_v, c.temperature, rows)
        soft = local_global_soft_info_nce(a_v, a_t, global_v, global_t, i2t, t2i, c.temperature)
        return {"itc": itc, "soft": soft}
