"""Reversible instance normalisation (RevIN; Kim et al., ICLR 2022, Eq. 1-2) per channel, window.

Each channel of each window is shifted and scaled to zero mean and unit variance over time,
which removes the distribution shift between subjects and sensors. MBSL normalises its inputs
before patching; the statistics are returned because they carry information of their own
(see ``MBSLGroupEncoder``'s statistics token).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn


class RevINStats(NamedTuple):
    """Per-window, per-channel statistics, each [B, C, 1]."""

    mean: Tensor
    std: Tensor


class RevIN(nn.Module):
    """``x_hat = (x - mean_t x) / sqrt(var_t x + eps) * gamma + beta`` (RevIN Eq. 1).

    Args:
        n_channels: C; the optional affine parameters gamma, beta are per channel.
        eps: added to the variance (a flat or absent channel maps to zeros, not NaN).
        affine: learn gamma (init 1) and beta (init 0).
    """

    def __init__(self, n_channels: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(n_channels, 1))
            self.bias = nn.Parameter(torch.zeros(n_channels, 1))

    def forward(self, x: Tensor) -> tuple[Tensor, RevINStats]:
        """Normalise ``x`` [B, C, T]; returns (normalised [B, C, T], stats)."""
        # Statistics in float32 even under bf16 autocast (variance of raw units).
        xf = x.float()
        mean = xf.mean(dim=-1, keepdim=True)  # B x C x 1
        std = torch.sqrt(xf.var(dim=-1, keepdim=True, unbiased=False) + self.eps)  # B x C x 1
        out = (xf - mean) / std
        if self.affine:
            out = out * self.weight + self.bias
        return out.to(x.dtype), RevINStats(mean=mean, std=std)

    def denormalise(self, y: Tensor, stats: RevINStats) -> Tensor:
        """Inverse of :meth:`forward` (RevIN Eq. 2), for reconstruction heads."""
        if self.affine:
            y = (y - self.bias) / (self.weight + self.eps)
        return y * stats.std + stats.mean
