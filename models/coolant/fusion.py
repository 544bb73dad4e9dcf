"""COOLANT's cross-modal fusion of the aligned text and image vectors (section 3.3).

For aligned vectors ``a_t, a_v`` in R^k (k = 64)::

    M = softmax_rows(a_t a_v^T / sqrt(k))      # k x k: each text dimension's attention over
    f = W maxpool_rows(M * a_v)                #        the image dimensions
                                               # (max over the text dimensions of M_ij a_v,j)

The outer product lets every text coordinate interact with every image coordinate; the row
softmax turns it into attention and the max-pool keeps, per image coordinate, its strongest
interaction.
"""

from __future__ import annotations

import math

from torch import Tensor, nn


class OuterProductFusion(nn.Module):
    """Aligned text and image vectors [B, k] -> fused feature [B, out_dim]."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.scale = 1.0 / math.sqrt(dim)
        self.out = nn.Linear(dim, out_dim)

    def forward(self, text: Tensor, image: Tensor) -> Tensor:
        interaction = (text[:, :, None] * image[:, None, :] * self.scale).softmax(dim=2)
        pooled = (interaction * image[:, None, :]).amax(dim=1)
        return self.out(pooled)
