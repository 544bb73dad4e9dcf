"""SyncTalkNet's training objective on a padded batch of tracks.

TalkNet (Tao et al., ACM MM 2021), section 3.3, with the paper's exchanged pairs (Wuerkaixi et
al., MLSP 2022, section 3.2)::

    loss = CE(AV) + exchange_weight * CE(AV on exchanged pairs, all 0)
         + aux_weight * (CE(audio-only) + CE(visual-only))

with ``aux_weight`` = 0.4 and ``exchange_weight`` = 1. Each CE is the mean over the valid frames
it covers (padded frames and labels < 0 never count); the exchanged pairs enter the AV term only,
as a separate mean (the paper is silent on the mix; a separate term keeps the real frames' loss
comparable with exchange on and off). A loss knows nothing about the model.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

IGNORE_INDEX = -100


def masked_cross_entropy(logits: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
    """Mean CE of ``logits`` [B, T, K] against ``labels`` [B, T] over the frames where ``mask``
    is True and the label is not negative; 0 (with a gradient path) when there is none."""
    targets = labels.long().masked_fill(~mask | (labels < 0), IGNORE_INDEX)
    total = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
    return total / (targets != IGNORE_INDEX).sum().clamp_min(1)


def synctalknet_loss(
    av_logits: Tensor,
    audio_logits: Tensor,
    visual_logits: Tensor,
    labels: Tensor,
    mask: Tensor,
    exchange_logits: Tensor | None = None,
    exchange_mask: Tensor | None = None,
    aux_weight: float = 0.4,
    exchange_weight: float = 1.0,
) -> dict[str, Tensor]:
    """The total and its terms. ``*_logits`` [B, T, 2] on the real tracks; ``exchange_logits``
    [P, T, 2] with ``exchange_mask`` [P, T] on the mismatched pairs (None: skipped, 0)."""
    av = masked_cross_entropy(av_logits, labels, mask)
    audio = masked_cross_entropy(audio_logits, labels, mask)
    visual = masked_cross_entropy(visual_logits, labels, mask)
    exchange = av.new_zeros(())
    if exchange_logits is not None and exchange_mask is not None:
        not_speaking = exchange_mask.new_zeros(exchange_mask.shape, dtype=labels.dtype)
        exchange = masked_cross_entropy(exchange_logits, not_speaking, exchange_mask)
    loss = av + exchange_weight * exchange + aux_weight * (audio + visual)
    return {
        "loss": loss,
        "av_loss": av.detach(),
        "audio_loss": audio.detach(),
        "visual_loss": visual.detach(),
        "exchange_loss": exchange.detach(),
    }
