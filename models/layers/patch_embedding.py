"""Multi-scale patch embedding of a channel group (MBSL's multi-scale patching).

For each patch length ``p`` the window [B, C_g, T] is cut into ``n_p = ceil(T / p)``
non-overlapping patches (right-padded with zeros when ``p`` does not divide ``T``); the
``C_g`` channels of a patch are concatenated into one vector of size ``C_g * p`` and linearly
projected to ``d_model`` (PatchTST-style tokens, Nie et al., ICLR 2023, but channel-mixing within
the group as MBSL's groups are encoded jointly). Learned positional embeddings (one table per
scale) and a learned scale embedding tell the transformer where and at which scale a token is.

Token counts for T = 256 and patch lengths (8, 16, 32): 32 + 16 + 8 = 56 tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def patchify(x: Tensor, patch_length: int) -> Tensor:
    """[B, C, T] -> [B, ceil(T/p), C*p] non-overlapping patches, zero right-padding."""
    b, c, t = x.shape
    n = math.ceil(t / patch_length)
    if n * patch_length != t:
        x = F.pad(x, (0, n * patch_length - t))
    x = x.reshape(b, c, n, patch_length).permute(0, 2, 1, 3)  # B x n x C x p
    return x.reshape(b, n, c * patch_length)


class MultiScalePatchEmbedding(nn.Module):
    """Patch tokens at several patch lengths.

    Args:
        n_channels: channels of the group (C_g).
        window_samples: T.
        patch_lengths: one scale per patch length, e.g. (8, 16, 32).
        d_model: token width.
        n_extra_scales: extra rows of the scale-embedding table for tokens that are not
            patches (the encoder's statistics token uses index ``len(patch_lengths)``).
    """

    def __init__(
        self,
        n_channels: int,
        window_samples: int,
        patch_lengths: Sequence[int],
        d_model: int,
        n_extra_scales: int = 1,
    ) -> None:
        super().__init__()
        self.patch_lengths = tuple(int(p) for p in patch_lengths)
        self.n_patches = tuple(math.ceil(window_samples / p) for p in self.patch_lengths)
        self.projections = nn.ModuleList(
            nn.Linear(n_channels * p, d_model) for p in self.patch_lengths
        )
        self.positions = nn.ParameterList(
            nn.Parameter(torch.zeros(n, d_model)) for n in self.n_patches
        )
        self.scale_embedding = nn.Parameter(
            torch.zeros(len(self.patch_lengths) + n_extra_scales, d_model)
        )
        for table in self.positions:
            nn.init.trunc_normal_(table, std=0.02)
        nn.init.trunc_normal_(self.scale_embedding, std=0.02)

    @property
    def n_tokens(self) -> int:
        """Patch tokens over all scales."""
        return sum(self.n_patches)

    def project(self, x: Tensor) -> list[Tensor]:
        """Content tokens without positions: list over scales of [B, n_p, d_model]."""
        return [
            proj(patchify(x, p))
            for p, proj in zip(self.patch_lengths, self.projections, strict=True)
        ]

    def add_positions(self, tokens: Sequence[Tensor]) -> list[Tensor]:
        """Add positional and scale embeddings (after masking, so mask tokens get them too)."""
        return [
            tok + pos + self.scale_embedding[s]
            for s, (tok, pos) in enumerate(zip(tokens, self.positions, strict=True))
        ]

    def forward(self, x: Tensor) -> list[Tensor]:
        """[B, C_g, T] -> list over scales of [B, n_p, d_model] tokens with positions."""
        return self.add_positions(self.project(x))
