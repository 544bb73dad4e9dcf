"""A momentum-updated copy of an encoder (MoCo's key encoder) that encodes the queued keys.

MoCo (He, Fan, Wu, Xie, Girshick, "Momentum Contrast for Unsupervised Visual Representation
Learning", CVPR 2020, Eq. 2) encodes the keys with a slowly moving copy of the query encoder::

    theta_k <- m * theta_k + (1 - m) * theta_q

applied once after every optimizer step, so that the keys enqueued over the last K / N steps
come from nearly the same encoder (a queue of the online encoder's own past embeddings is a
memory bank instead, whose keys drift with every step).

Hyper-parameters (MoCo's defaults):
    momentum = 0.999: m (MoCo v1/v2; 0.9 already hurts, 0 = copy fails to train, Table 4).

The copy's parameters never require gradients (no optimizer owns them, DDP ignores them) and
sit in the model's ``state_dict`` (so checkpoints hold them). Only parameters are averaged
(MoCo's ``_momentum_update_key_encoder``); buffers follow the copy's own forward passes. Every
rank applies the same update to the same (DDP-synchronised) weights, so the copies stay equal.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class MomentumEncoder(nn.Module):
    """The EMA copy of ``encoder`` (the key encoder), updated by :meth:`update`.

    Args:
        encoder: the online (query) encoder; copied here, not kept.
        momentum: m in ``theta_k <- m theta_k + (1 - m) theta_q``; MoCo's default 0.999.

    ``forward(*inputs)`` runs the copy under ``torch.no_grad()`` (keys are constants).
    """

    def __init__(self, encoder: nn.Module, momentum: float = 0.999) -> None:
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
        self.momentum = momentum
        self.encoder = copy.deepcopy(encoder)
        for param in self.encoder.parameters():
            param.requires_grad_(False)  # updated by momentum only, never by gradient

    @torch.no_grad()
    def update(self, online: nn.Module) -> None:
        """theta_k <- m theta_k + (1 - m) theta_q for every parameter (MoCo Eq. 2)."""
        for param_q, param_k in zip(online.parameters(), self.encoder.parameters(), strict=True):
            param_k.mul_(self.momentum).add_(param_q.detach(), alpha=1.0 - self.momentum)

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        """Keys of ``inputs`` (no graph)."""
        with torch.no_grad():
            return self.encoder(*inputs, **kwargs)
