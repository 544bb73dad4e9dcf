"""An optional momentum-updated key encoder (MoCo), to keep queued negatives consistent.

MoCo (He, Fan, Wu, Xie, Girshick, "Momentum Contrast for Unsupervised Visual Representation
Learning", CVPR 2020, Eq. 2) encodes the keys with a slowly moving copy of the query encoder::

    theta_k <- m * theta_k + (1 - m) * theta_q

so that keys enqueued over the last K / N steps come from nearly the same encoder.

Hyper-parameters (MoCo's defaults):
    momentum = 0.999: m (MoCo v1/v2; 0.9 already hurts, 0 = copy fails to train, Table 4).
    The queue that consumes the keys: K = 65536 (:mod:`models.losses.memory_queue`), with the
    InfoNCE temperature tau = 0.07 (MoCo v1) or 0.2 (MoCo v2).

Only parameters are averaged (MoCo's ``_momentum_update_key_encoder``); buffers such as batch
norm statistics follow the key encoder's own forward passes.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class MomentumEncoder(nn.Module):
    """A query encoder and its frozen, momentum-updated copy (the key encoder).

    Args:
        encoder: the query encoder (trained by back-propagation); kept as ``encoder_q``.
        momentum: m in ``theta_k <- m theta_k + (1 - m) theta_q``; MoCo's default 0.999.

    ``forward(*inputs)`` returns keys: in training mode it first applies one momentum update
    (as MoCo does at every step), then runs ``encoder_k`` under ``torch.no_grad()``.
    Use ``encoder_q`` (or :meth:`query`) for the query side.
    """

    def __init__(self, encoder: nn.Module, momentum: float = 0.999) -> None:
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
        self.momentum = momentum
        self.encoder_q = encoder
        self.encoder_k = copy.deepcopy(encoder)
        for param in self.encoder_k.parameters():
            param.requires_grad_(False)  # updated by momentum only, never by gradient

    @torch.no_grad()
    def _momentum_update_key_encoder(self) -> None:
        """theta_k <- m theta_k + (1 - m) theta_q for every parameter (MoCo Eq. 2)."""
        for param_q, param_k in zip(
            self.encoder_q.parameters(), self.encoder_k.parameters(), strict=True
        ):
            param_k.mul_(self.momentum).add_(param_q.detach(), alpha=1.0 - self.momentum)

    def query(self, *inputs: Any, **kwargs: Any) -> Any:
        """The query encoder's output (with gradient)."""
        return self.encoder_q(*inputs, **kwargs)

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        """Keys: momentum update (training mode only), then the key encoder under no_grad."""
        if self.training:
            self._momentum_update_key_encoder()
        with torch.no_grad():
            return self.encoder_k(*inputs, **kwargs)
