"""MBSL downstream heads: heart rate, respiration rate, activity and sleep apnea.

The paper evaluates MBSL on respiration rate, heart rate, human activity recognition and sleep
apnea detection. Here one shared feature vector (``MBSLEncoder.features``, [B, G*E]) feeds four
linear heads after a LayerNorm; regression heads predict standardised targets
``(y - mean) / std`` so that bpm-scale errors do not dominate the classification terms.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmodal_ray.models.mbsl.model import MBSLEncoder

# (mean, std) of the regression targets; our defaults for adult wearables (overridden by the
# training task with statistics of the training split).
DEFAULT_TARGET_MEAN_STD: dict[str, tuple[float, float]] = {
    "hr_bpm": (80.0, 20.0),
    "rr_bpm": (16.0, 5.0),
}


class MBSLDownstream(nn.Module):
    """Task heads over MBSL features.

    Args:
        encoder: a (pre-trained) :class:`MBSLEncoder`.
        n_activities: number of activity classes (``len(ACTIVITIES)``).
        freeze_encoder: linear probing: no gradient into the encoder, features under no_grad.
    """

    def __init__(
        self, encoder: MBSLEncoder, n_activities: int, freeze_encoder: bool = False
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.freeze_encoder = freeze_encoder
        if freeze_encoder:
            encoder.requires_grad_(False)
        dim = encoder.feature_dim
        self.norm = nn.LayerNorm(dim)
        self.hr = nn.Linear(dim, 1)
        self.rr = nn.Linear(dim, 1)
        self.activity = nn.Linear(dim, n_activities)
        self.apnea = nn.Linear(dim, 1)

    def forward(self, signals: Tensor, channel_present: Tensor | None = None) -> dict[str, Tensor]:
        """Returns ``hr_z``, ``rr_z`` [B] (standardised), ``activity_logits`` [B, A],
        ``apnea_logit`` [B] and ``features`` [B, G*E]."""
        if self.freeze_encoder:
            with torch.no_grad():
                features = self.encoder.features(signals, channel_present)
        else:
            features = self.encoder.features(signals, channel_present)
        h = self.norm(features)
        return {
            "hr_z": self.hr(h)[:, 0],
            "rr_z": self.rr(h)[:, 0],
            "activity_logits": self.activity(h),
            "apnea_logit": self.apnea(h)[:, 0],
            "features": features,
        }


def regression_to_bpm(
    outputs: Mapping[str, Tensor], target_mean_std: Mapping[str, tuple[float, float]] | None = None
) -> dict[str, Tensor]:
    """Standardised head outputs -> ``hr_bpm``, ``rr_bpm`` in breaths/beats per minute."""
    stats = {**DEFAULT_TARGET_MEAN_STD, **(target_mean_std or {})}
    return {
        name: outputs[key].float() * stats[name][1] + stats[name][0]
        for name, key in (("hr_bpm", "hr_z"), ("rr_bpm", "rr_z"))
    }


def downstream_loss(
    outputs: Mapping[str, Tensor],
    targets: Mapping[str, Tensor],
    target_mean_std: Mapping[str, tuple[float, float]] | None = None,
    weights: Mapping[str, float] | None = None,
) -> dict[str, Tensor | dict[str, Tensor]]:
    """Sum of the four task losses over the known labels only.

    Args:
        outputs: :meth:`MBSLDownstream.forward` output.
        targets: ``hr_bpm``, ``rr_bpm`` float [B] (NaN = unknown), ``activity`` int [B]
            (-1 = unknown), ``apnea`` int [B] (-1 = unknown). Missing keys count as unknown.
        target_mean_std: ``{"hr_bpm": (mean, std), "rr_bpm": (mean, std)}`` to standardise the
            regression targets (default ``DEFAULT_TARGET_MEAN_STD``).
        weights: optional per-term weights (default 1).

    Returns:
        ``loss`` (scalar with graph; 0 when no label is known) and ``terms``: detached per-task
        losses (MSE on standardised targets, cross-entropy, BCE) and ``n_<task>`` label counts.
    """
    stats = {**DEFAULT_TARGET_MEAN_STD, **(target_mean_std or {})}
    weights = dict(weights or {})
    anchor = outputs["hr_z"]
    total = anchor.float().sum() * 0.0  # keeps the graph when no label is known
    terms: dict[str, Tensor] = {}

    def add(name: str, value: Tensor, count: Tensor) -> None:
        nonlocal total
        total = total + weights.get(name, 1.0) * value
        terms[name] = value.detach()
        terms[f"n_{name}"] = count.detach()

    for name, key in (("hr_bpm", "hr_z"), ("rr_bpm", "rr_z")):
        pred = outputs[key].float()
        y = targets.get(name)
        y = torch.full_like(pred, float("nan")) if y is None else y.to(pred.device, torch.float32)
        known = torch.isfinite(y)
        z = (torch.where(known, y, torch.zeros_like(y)) - stats[name][0]) / stats[name][1]
        sq = torch.where(known, (pred - z) ** 2, torch.zeros_like(pred))
        add(name, sq.sum() / known.sum().clamp(min=1), known.sum())

    logits = outputs["activity_logits"].float()
    activity = targets.get("activity")
    if activity is None:
        activity = torch.full(logits.shape[:1], -1, dtype=torch.long, device=logits.device)
    activity = activity.to(logits.device, torch.long)
    known = activity >= 0
    ce = F.cross_entropy(logits, activity.clamp(min=0), reduction="none")
    add(
        "activity",
        torch.where(known, ce, torch.zeros_like(ce)).sum() / known.sum().clamp(min=1),
        known.sum(),
    )

    logit = outputs["apnea_logit"].float()
    apnea = targets.get("apnea")
    if apnea is None:
        apnea = torch.full_like(logit, -1)
    apnea = apnea.to(logit.device, torch.float32)
    known = apnea >= 0
    bce = F.binary_cross_entropy_with_logits(logit, apnea.clamp(min=0), reduction="none")
    add(
        "apnea",
        torch.where(known, bce, torch.zeros_like(bce)).sum() / known.sum().clamp(min=1),
        known.sum(),
    )
    return {"loss": total, "terms": terms}
