"""A tiny multi-group embedding model with the contrastive loss inside, for the DDP tests.

``[B, G, IN_DIM]`` windows -> one linear map per group -> ``MultiGroupContrastiveLoss`` (with a
learned temperature, inside the wrapped module as in ``MBSLPretrainModel``), in float64.
"""

from __future__ import annotations

import torch
from torch import nn

from crossmodal_ray.models.losses import MultiGroupContrastiveLoss

BATCH, GROUPS, IN_DIM, EMBED = 8, 3, 6, 4


class TinyGroupModel(nn.Module):
    """[B, G, IN_DIM] -> (loss dict, [G, B, E]); one linear map per group plus the loss."""

    def __init__(self, **loss_kwargs) -> None:
        super().__init__()
        self.maps = nn.ModuleList(nn.Linear(IN_DIM, EMBED) for _ in range(GROUPS))
        self.loss = MultiGroupContrastiveLoss(
            temperature=0.3, learn_temperature=True, n_groups=GROUPS, embed_dim=EMBED, **loss_kwargs
        )

    def forward(self, x, valid=None):
        z = torch.stack([m(x[:, g]) for g, m in enumerate(self.maps)])  # G x B x E
        return self.loss(z, valid=valid), z


def tiny_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed float64 batch [B, G, IN_DIM] and its validity [G, B] (two windows lack group 2)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, GROUPS, IN_DIM, generator=g, dtype=torch.float64)
    valid = torch.ones(GROUPS, BATCH, dtype=torch.bool)
    valid[2, [1, 6]] = False
    return x, valid


def tiny_model(**loss_kwargs) -> TinyGroupModel:
    """The same initial weights on every call (and every rank)."""
    torch.manual_seed(1)
    return TinyGroupModel(**loss_kwargs).double()


def parameter_grads(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters()}
