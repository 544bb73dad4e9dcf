"""Cross-modal attention from a phrase to the regions of its image (VG-BERT stage 2).

Section 3.3 of Zhang et al. (NeurIPS 2021): the phrase feature ``q`` (mean of its word features
from the language stream) is the query, the image's region features ``v_r`` the keys and values
of a multi-head attention (8 heads)::

    a_h = softmax_r(q W_h^Q (k_r W_h^K)^T / sqrt(d / H)),   o = W^O [sum_r a_h,r k_r W_h^V]_h
    k_r = v_r + p_r

``o`` is the retrieved object's visual feature (built from regions only: no residual path from
the query, so the object's class must be read from the image) and ``mean_h a_h`` the attention
map over regions that object retrieval is scored on. ``p_r`` is a learned 2-D position
embedding of region ``r``'s cell (row + column vectors, as in the visual stream) at the scale of
the layer-normalised region features, so that ``o`` says where the object is: the relation
operator needs it for "left of" or "above", and the visual stream's own position embedding
(initialised at 0.02) is mostly washed out after stage 1.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class PhraseRegionAttention(nn.Module):
    """Phrases [N, d] attending to their images' regions [N, R, d] -> objects [N, d] and
    head-averaged attention maps [N, R]."""

    def __init__(self, dim: int, heads: int = 8, grid: int = 14) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"feature width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.rows = nn.Parameter(torch.randn(grid, dim) / math.sqrt(2.0))
        self.cols = nn.Parameter(torch.randn(grid, dim) / math.sqrt(2.0))

    def positions(self, regions: int) -> Tensor:
        grid = math.isqrt(regions)
        if grid * grid != regions or grid > len(self.rows):
            raise ValueError(f"{regions} regions do not form a square grid of <= {len(self.rows)}")
        return (self.rows[:grid, None, :] + self.cols[None, :grid, :]).reshape(regions, -1)

    def forward(self, phrases: Tensor, regions: Tensor) -> tuple[Tensor, Tensor]:
        keys = regions + self.positions(regions.shape[1])
        attended, weights = self.attention(
            phrases[:, None, :], keys, keys, need_weights=True, average_attn_weights=True
        )
        return attended[:, 0, :], weights[:, 0, :]
