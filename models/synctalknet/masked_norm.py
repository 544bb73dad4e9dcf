"""Batch normalisation over the valid frames of a padded batch of tracks.

TalkNet (Tao et al., ACM MM 2021) batches one track length at a time, so its BatchNorm never sees
padding. Here tracks of different lengths share a batch (padded at the end, ``mask`` [B, L] True
on valid frames), and a plain BatchNorm over [B, C, ..., L] would mix the padded frames into its
batch statistics in training and so change a track's output with its batch-mates' lengths.

:class:`MaskedBatchNorm` gathers the valid frames, normalises them with ``nn.BatchNorm1d``'s own
code (batch statistics of the valid frames in training, running statistics in eval, the same
running-average update) and scatters them back into zeros. Its output is zero on every padded
frame, which the temporal convolutions of the encoders rely on: a convolution sees the same
zeros past a track's last frame whether that track is padded or not, exactly what its own zero
padding gives an unpadded track. So a track's output does not depend on the padding, in training
(batch statistics of the valid frames only) and in eval (running statistics).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class MaskedBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the valid time steps of ``x`` [B, C, *extra, L] with ``mask`` [B, L].

    ``*extra`` is zero or one axis (the frequency axis of the audio encoder's maps); statistics
    are per channel over the valid (batch, extra, time) positions. Padded positions come out 0.
    """

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:  # type: ignore[override]
        if x.dim() not in (3, 4):
            raise ValueError(f"expected [B, C, L] or [B, C, F, L], got {tuple(x.shape)}")
        moved = x.movedim(-1, 1)  # B x L x C (x F)
        valid = moved[mask]  # N x C (x F)
        if self.training and valid[:, 0].numel() < 2:
            # One value per channel (a lone 1-frame track) has no batch variance: running stats.
            normalised = F.batch_norm(
                valid, self.running_mean, self.running_var, self.weight, self.bias, eps=self.eps
            )
        else:
            normalised = super().forward(valid)
        out = normalised.new_zeros(moved.shape)
        out[mask] = normalised
        return out.movedim(1, -1)


def masked_time_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` [B, C, *extra, L] over its extra and valid time positions: [B, C]."""
    weights = mask.to(x.dtype).reshape(mask.shape[0], *([1] * (x.dim() - 2)), mask.shape[1])
    dims = tuple(range(2, x.dim()))
    count = weights.sum(dim=dims) * (x[0, 0].numel() / x.shape[-1])
    return (x * weights).sum(dim=dims) / count.clamp_min(1.0)


def downsample_mask(mask: Tensor, stride: int) -> Tensor:
    """The valid steps after a stride-``stride`` convolution (kernel ``k``, padding ``k // 2``):
    output step ``j`` reads input steps ``stride * j +- k // 2``, so it is valid when input step
    ``stride * j`` is. For a track of ``L`` valid steps, ``L`` a multiple of the stride, the
    output has ``L / stride`` valid steps and its last one reads valid input only."""
    return mask[:, ::stride] if stride > 1 else mask
