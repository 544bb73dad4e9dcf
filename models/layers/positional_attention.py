"""Attention layer with a sinusoidal positional encoding added to both of its inputs.

Wuerkaixi, Zhang, Duan, Zhang, "Rethinking Audio-visual Synchronization for Active Speaker
Detection" (MLSP 2022), section 3.1: TalkNet's cross- and self-attention layers see no positions,
so an attention layer is blind to a shift or a time reversal of one stream against the other.
The fix is the Transformer's sinusoidal encoding (Vaswani et al., NeurIPS 2017, section 3.5)
added to the query input and to the key/value input of every attention layer; with the same
table on both sides, a query at frame ``t`` can learn to attend to the key at frame ``t``.

The layer itself is TalkNet's (Tao et al., ACM MM 2021) post-norm Transformer block::

    q_in  = query + PE[:T_q]                   # both inputs, when positional_encoding is on
    kv_in = key_value + PE[:T_k]
    x = LayerNorm(query + Dropout(MHA(q_in, kv_in, kv_in)))
    x = LayerNorm(x + Dropout(W_2 Dropout(ReLU(W_1 x))))      # W_1: d -> 4d

The residual is the query without the encoding (choice of this project, the paper is silent):
the encoding is a property of the attention's inputs, so stacked layers do not add it again and
again to the stream. Self-attention is the call with ``key_value = query``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PE_BASE = 10000.0


def sinusoidal_positional_encoding(
    length: int, dim: int, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> Tensor:
    """``PE[t, 2i] = sin(t / 10000^(2i/d))``, ``PE[t, 2i+1] = cos(t / 10000^(2i/d))``: [T, d].

    Positions count from 0 at the first frame of the sequence (of the track, for a padded batch:
    padding at the end leaves the valid frames' encoding unchanged)."""
    if dim % 2:
        raise ValueError(f"the sinusoidal encoding needs an even width, got {dim}")
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    frequency = torch.exp(
        torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(PE_BASE) / dim)
    )
    angle = position * frequency  # T x d/2
    table = torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(length, dim)
    return table.to(dtype) if dtype is not None else table


class PositionalAttentionLayer(nn.Module):
    """Multi-head attention + feed-forward block, positional encoding on both inputs.

    Args:
        dim: Width of the query and key/value inputs (d).
        heads: Attention heads (8 in TalkNet).
        dropout: Dropout of the attention weights and of both residual branches (0.1).
        feedforward_multiplier: Hidden width of the feed-forward block, in multiples of d (4).
        positional_encoding: Add the sinusoidal encoding to both inputs (False: TalkNet, the
            paper's ablation). An attribute: it can be switched on a built layer.
    """

    def __init__(
        self,
        dim: int,
        heads: int = 8,
        dropout: float = 0.1,
        feedforward_multiplier: int = 4,
        positional_encoding: bool = True,
    ) -> None:
        super().__init__()
        self.positional_encoding = positional_encoding
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(dim, dim * feedforward_multiplier)
        self.linear2 = nn.Linear(dim * feedforward_multiplier, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(
        self, query: Tensor, key_value: Tensor, key_padding_mask: Tensor | None = None
    ) -> Tensor:
        """``query`` [B, T_q, d], ``key_value`` [B, T_k, d], ``key_padding_mask`` [B, T_k]
        (True = padding, ignored by the attention) -> [B, T_q, d]."""
        q_in, kv_in = query, key_value
        if self.positional_encoding:
            d = query.shape[-1]
            q_in = query + sinusoidal_positional_encoding(
                query.shape[1], d, query.device, query.dtype
            )
            kv_in = key_value + sinusoidal_positional_encoding(
                key_value.shape[1], d, key_value.device, key_value.dtype
            )
        attended = self.attention(
            q_in, kv_in, kv_in, key_padding_mask=key_padding_mask, need_weights=False
        )[0]
        x = self.norm1(query + self.dropout1(attended))
        hidden = self.linear2(self.dropout(F.relu(self.linear1(x))))
        return self.norm2(x + self.dropout2(hidden))
