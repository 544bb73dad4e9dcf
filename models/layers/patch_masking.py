"""Random patch masking (MBSL's masked views; BERT/SimMIM-style learned mask token).

A fraction ``r`` of each sample's tokens is replaced by a learned mask token, with an
independent random subset per sample (argsort of uniform noise, as in MAE, He et al. 2022).
MBSL pairs several patch lengths with several mask ratios so that the views differ in scale
and in difficulty; the encoder draws the ratio per scale per forward.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def random_token_mask(batch: int, n_tokens: int, ratio: float, device: torch.device) -> Tensor:
    """Bool [batch, n_tokens], True = masked, exactly ``round(ratio * n_tokens)`` per row
    (at most ``n_tokens - 1`` so that every sample keeps a visible token)."""
    n_mask = min(int(round(ratio * n_tokens)), n_tokens - 1)
    if n_mask <= 0:
        return torch.zeros(batch, n_tokens, dtype=torch.bool, device=device)
    noise = torch.rand(batch, n_tokens, device=device)
    ranks = noise.argsort(dim=1).argsort(dim=1)  # B x n: rank of each token's noise
    return ranks < n_mask


class RandomPatchMasking(nn.Module):
    """Replace a random fraction of tokens with a learned mask token.

    Args:
        d_model: token width.
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.mask_token = nn.Parameter(torch.zeros(d_model))
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(self, tokens: Tensor, ratio: float) -> tuple[Tensor, Tensor]:
        """Mask ``tokens`` [B, n, d].

        Returns:
            (masked tokens [B, n, d], mask bool [B, n] with True = replaced).
        """
        b, n, _ = tokens.shape
        mask = random_token_mask(b, n, ratio, tokens.device)
        masked = torch.where(mask[..., None], self.mask_token.to(tokens.dtype), tokens)
        return masked, mask
