"""VG-BERT's bilinear relational operator (stage 2).

Section 3.3 of Zhang et al. (NeurIPS 2021): subject and object features are projected to a small
relational space (``relation_dim`` = 32) and L2-normalised, ``s = P o_subj / |P o_subj|``,
``t = P o_obj / |P o_obj|``; each predicate ``k`` owns a matrix ``R_k`` (32 x 32) kept at unit
Frobenius norm, and the pair's score for ``k`` is the bilinear form::

    score_k(s, t) = scale * s^T (R_k / |R_k|_F) t,        |score_k| <= scale

``scale`` is learned (initialised at 1 / 0.1, the stage-1 temperature): unit vectors and unit
matrices alone bound the logits to [-1, 1], too flat for a softmax over predicates.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BilinearRelationOperator(nn.Module):
    """Subject and object features [M, d] -> predicate logits [M, K]."""

    def __init__(self, dim: int, num_predicates: int, relation_dim: int = 32) -> None:
        super().__init__()
        if num_predicates < 1:
            raise ValueError("the relation operator needs at least one predicate")
        self.project = nn.Linear(dim, relation_dim)
        self.matrices = nn.Parameter(
            torch.randn(num_predicates, relation_dim, relation_dim) / relation_dim
        )
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))

    def normalized_matrices(self) -> Tensor:
        """``R_k / |R_k|_F`` for every predicate: [K, r, r]."""
        norms = self.matrices.flatten(1).norm(dim=1).clamp_min(1e-12)
        return self.matrices / norms[:, None, None]

    def forward(self, subjects: Tensor, objects: Tensor) -> Tensor:
        s = F.normalize(self.project(subjects), dim=-1)
        t = F.normalize(self.project(objects), dim=-1)
        scores = torch.einsum("mi,kij,mj->mk", s, self.normalized_matrices(), t)
        return self.log_scale.exp() * scores
