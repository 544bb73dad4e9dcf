"""COOLANT's auxiliary cross-modal similarity module and the soft targets it gives.

Section 3.2 of Wang et al. (ACM MM 2023): two small encoders map the (detached) unimodal
features into a common space; their cosine ``c(t, v)`` is trained with a cosine-embedding loss
(margin ``m`` = 0.2) on positives = the matched pairs of real posts and negatives = the same
texts with the batch's images shifted by one::

    L_sim = mean_pos (1 - c(t_i, v_i)) + mean_neg max(0, c(t_i, v_{i+1}) - m)

It has its own optimiser (its inputs are detached: it never moves the encoders). Its scores over
the global pool give the soft targets of the contrastive loss, one distribution per direction::

    Q_i2t[i, :] = softmax_j(c(t_j, v_i) / tau),     Q_t2i[j, :] = softmax_i(c(t_j, v_i) / tau)

(the paper's ``q = softmax(sim)``; the temperature is the contrastive loss's own, 0.07, since raw
cosines in [-1, 1] would give nearly uniform targets over a large pool).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CrossModalSimilarity(nn.Module):
    """Text and image features [B, D] -> cosine similarity in a learned common space."""

    def __init__(self, in_dim: int, dim: int = 64) -> None:
        super().__init__()
        self.text = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.image = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def embed(self, text: Tensor, image: Tensor) -> tuple[Tensor, Tensor]:
        return F.normalize(self.text(text), dim=-1), F.normalize(self.image(image), dim=-1)

    def pair_loss(self, text: Tensor, image: Tensor, real: Tensor, margin: float) -> Tensor:
        """The cosine-embedding loss above (``real``: bool [B], which pairs are positives)."""
        t, v = self.embed(text, image)
        target = torch.cat([torch.ones_like(real, dtype=t.dtype), -torch.ones(len(t)).to(t)])
        keep = torch.cat([real, torch.ones_like(real)])
        pairs_t = torch.cat([t, t])
        pairs_v = torch.cat([v, v.roll(1, dims=0)])
        if len(t) < 2 or not keep.any():
            return (t.sum() + v.sum()) * 0.0
        return F.cosine_embedding_loss(pairs_t[keep], pairs_v[keep], target[keep], margin=margin)

    @torch.no_grad()
    def soft_targets(
        self, text: Tensor, image: Tensor, temperature: float, rows: slice | None = None
    ) -> tuple[Tensor, Tensor]:
        """``Q_i2t`` and ``Q_t2i`` (rows sum to 1) over the pool ``text``, ``image`` [N, D]:
        for each image (``rows`` of the pool, default all) a distribution over the pool's texts,
        and for each text one over the pool's images."""
        t, v = self.embed(text, image)
        scores = v @ t.T / temperature  # [image, text]
        rows = rows if rows is not None else slice(None)
        return scores[rows].softmax(dim=1), scores.T[rows].softmax(dim=1)
