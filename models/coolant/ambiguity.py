"""Cross-modal ambiguity (COOLANT section 3.4, after CAFE, Chen et al. WWW 2022).

Two Gaussian (variational) encoders map the text and the image feature to posteriors
``N(mu_t, diag sigma_t^2)`` and ``N(mu_v, diag sigma_v^2)``; their symmetric KL divergence
measures how much the modalities disagree::

    D = (KL(p_t || p_v) + KL(p_v || p_t)) / 2,        s = 1 - exp(-D / latent_dim)  in [0, 1)

The squashing of ``D`` into ``s`` is this project's choice (the paper only needs a score in
[0, 1]). The attention over (text, image, fusion) is then pulled toward ``[1 - s, 1 - s, s]``
(normalised): when the modalities agree, rely on each of them; when they are ambiguous, on
their fusion.

Training of the encoders (where the paper is silent; with the auxiliary optimiser, inputs
detached): matched pairs of real posts should agree and shifted pairs disagree, a hinge on the
symmetric KL per latent dimension, plus a small KL to N(0, I) that keeps the posteriors from
collapsing::

    L_amb = mean_pos D/k + mean_neg max(0, 1 - D/k) + beta * (KL(p_t || N) + KL(p_v || N)) / k
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

PRIOR_WEIGHT = 0.01


def gaussian_kl(mu_p: Tensor, logvar_p: Tensor, mu_q: Tensor, logvar_q: Tensor) -> Tensor:
    """KL(N(mu_p, e^logvar_p) || N(mu_q, e^logvar_q)) summed over the last dimension."""
    return 0.5 * (
        logvar_q - logvar_p + (logvar_p.exp() + (mu_p - mu_q) ** 2) / logvar_q.exp() - 1.0
    ).sum(-1)


class GaussianEncoder(nn.Module):
    def __init__(self, in_dim: int, latent_dim: int) -> None:
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(in_dim, in_dim), nn.GELU())
        self.mu = nn.Linear(in_dim, latent_dim)
        self.logvar = nn.Linear(in_dim, latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.hidden(x)
        return self.mu(h), self.logvar(h).clamp(-8.0, 8.0)


class AmbiguityScore(nn.Module):
    """Text and image features [B, D] -> ambiguity ``s`` [B] in [0, 1)."""

    def __init__(self, in_dim: int, latent_dim: int = 64) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.text = GaussianEncoder(in_dim, latent_dim)
        self.image = GaussianEncoder(in_dim, latent_dim)

    def divergence(self, text: Tensor, image: Tensor) -> Tensor:
        """Symmetric KL per latent dimension, [B]."""
        mu_t, lv_t = self.text(text)
        mu_v, lv_v = self.image(image)
        d = 0.5 * (gaussian_kl(mu_t, lv_t, mu_v, lv_v) + gaussian_kl(mu_v, lv_v, mu_t, lv_t))
        return d / self.latent_dim

    def forward(self, text: Tensor, image: Tensor) -> Tensor:
        return 1.0 - torch.exp(-self.divergence(text, image))

    def training_loss(self, text: Tensor, image: Tensor, real: Tensor) -> Tensor:
        """``L_amb`` of the module docstring (``real``: bool [B], the positive pairs)."""
        positive = self.divergence(text, image)
        negative = self.divergence(text, image.roll(1, dims=0))
        mu_t, lv_t = self.text(text)
        mu_v, lv_v = self.image(image)
        zeros = torch.zeros_like(mu_t)
        prior = gaussian_kl(mu_t, lv_t, zeros, zeros) + gaussian_kl(mu_v, lv_v, zeros, zeros)
        loss = torch.relu(1.0 - negative).mean() + PRIOR_WEIGHT * prior.mean() / self.latent_dim
        if real.any():
            loss = loss + positive[real].mean()
        return loss
