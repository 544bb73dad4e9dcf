"""MBSL: multi-scale, multi-modal contrastive learning for biomedical time series.

Guo, Xu, Wu, Wang, "Multi-Scale and Multi-Modal Contrastive Learning Network for Biomedical
Time Series". The channels are split into groups by inter-modal distance
(:mod:`models.mbsl.channel_grouping`); each group has its own encoder; several patch lengths and
mask ratios give multi-scale masked views; a contrastive loss aligns the embeddings of the
same window across groups (:class:`models.losses.MultiGroupContrastiveLoss`).

One group encoder (shapes for B windows, C_g channels, T samples, d = d_model)::

    x [B, C_g, T] --RevIN--> x_hat, (mean, std)
    x_hat --patches p in patch_lengths--> [B, T/p, d] per scale  (+ mask token on r_p of them)
    (mean, log std, present) --linear--> statistics token [B, 1, d]
    [B, sum_p T/p + 1, d] --transformer (pre-norm)--> mean over unmasked tokens --> [B, E]

Hyper-parameters (``MBSLConfig``; ``small()`` = defaults for tests and the sample corpus):
    n_channels = 7, window_samples = 256 (8 s at 32 Hz, PPG-DaLiA windows)
    groups = ((0, 1), (2,), (3, 4, 5), (6,)): cardiac (ECG, PPG), respiration, accelerometer,
        SpO2 (indices of ``pipelines.physio.schema.CHANNELS``); replace with a fitted
        ``ChannelGrouping``.
    patch_lengths = (8, 16, 32), mask_ratios = (0.2, 0.4, 0.6): our choice of scales and ratios
        (the multi-scale, multi-ratio idea is the paper's).
    d_model = 64, n_heads = 4, n_layers = 2, dim_feedforward = 128, embed_dim = 64,
    dropout = 0.1, temperature = 0.1, learn_temperature = False.
    loss = "local", tile_size = 2048, queue_size = 0: how the contrastive loss is computed
        ("full" | "local" | "tiled", and a MoCo queue of ``queue_size`` negatives per group;
        MoCo's K is 65536), see :mod:`models.losses.contrastive_loss_config`.
    momentum = 0.999: m of the momentum copy of the group encoders whose keys fill the queue
        (MoCo eq. 2, ``theta_k <- m theta_k + (1 - m) theta_q`` after every optimizer step;
        only with ``queue_size > 0``), see :mod:`models.losses.momentum_encoder`.
    mask_overlapping_negatives = True, window_s = 8.0: windows of the same recording that
        overlap the anchor (starts less than ``window_s`` apart; with a 2 s stride, shifts of
        2, 4 and 6 s share 75, 50 and 25 % of the signal) are no negatives of it
        (:mod:`models.losses.negative_exclusion`); ``window_s`` comes from the corpus.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from crossmodal_ray.models.layers.patch_embedding import MultiScalePatchEmbedding
from crossmodal_ray.models.layers.patch_masking import RandomPatchMasking
from crossmodal_ray.models.layers.revin import RevIN, RevINStats
from crossmodal_ray.models.losses.contrastive_loss_config import LOSS_CHOICES, validate_loss_fields
from crossmodal_ray.models.losses.momentum_encoder import MomentumEncoder
from crossmodal_ray.models.losses.multi_group_contrastive import MultiGroupContrastiveLoss
from crossmodal_ray.models.losses.negative_exclusion import WindowKeys


@dataclass
class MBSLConfig:
    """Everything a user tunes about the MBSL model (see the module docstring)."""

    n_channels: int = 7
    window_samples: int = 256
    groups: tuple[tuple[int, ...], ...] = ((0, 1), (2,), (3, 4, 5), (6,))
    patch_lengths: tuple[int, ...] = (8, 16, 32)
    mask_ratios: tuple[float, ...] = (0.2, 0.4, 0.6)
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    dim_feedforward: int = 128
    embed_dim: int = 64
    dropout: float = 0.1
    temperature: float = 0.1
    learn_temperature: bool = False
    loss: str = dataclasses.field(default="local", metadata={"choices": LOSS_CHOICES})
    tile_size: int = 2048
    queue_size: int = 0
    momentum: float = 0.999
    mask_overlapping_negatives: bool = True
    window_s: float = 8.0

    def __post_init__(self) -> None:
        validate_loss_fields(self.loss, self.tile_size, self.queue_size, self.temperature)
        self.groups = tuple(tuple(int(c) for c in g) for g in self.groups)
        self.patch_lengths = tuple(int(p) for p in self.patch_lengths)
        self.mask_ratios = tuple(float(r) for r in self.mask_ratios)
        flat = [c for g in self.groups for c in g]
        if len(self.groups) < 2 or any(len(g) == 0 for g in self.groups):
            raise ValueError(f"need >= 2 non-empty groups, got {self.groups}")
        if len(set(flat)) != len(flat) or not all(0 <= c < self.n_channels for c in flat):
            raise ValueError(f"groups must use distinct channels in 0..{self.n_channels - 1}")
        if not self.mask_ratios or not all(0.0 <= r < 1.0 for r in self.mask_ratios):
            raise ValueError(f"mask_ratios must lie in [0, 1), got {self.mask_ratios}")
        if self.d_model % self.n_heads:
            raise ValueError("d_model must be divisible by n_heads")
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"momentum must lie in [0, 1], got {self.momentum}")

    @classmethod
    def small(cls, **overrides: Any) -> MBSLConfig:
        """The defaults: seconds per epoch on CPU for the sample corpus and tests."""
        return cls(**overrides)

    @classmethod
    def paper(cls, **overrides: Any) -> MBSLConfig:
        """Paper-scale sizes for real corpora.

        The transformer sizes follow PatchTST's (Nie et al., ICLR 2023, Sec. 4.1 and
        Appendix A.1.4: 3 layers, d_model 128, 16 heads, feed-forward 256, dropout 0.2), the
        patch transformer MBSL's group encoders build on; the embedding width is our choice.
        Check these against the MBSL paper's implementation details when tuning.
        """
        values: dict[str, Any] = dict(
            d_model=128, n_heads=16, n_layers=3, dim_feedforward=256, embed_dim=128, dropout=0.2
        )
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (tuples become lists)."""
        data = dataclasses.asdict(self)
        data["groups"] = [list(g) for g in self.groups]
        data["patch_lengths"] = list(self.patch_lengths)
        data["mask_ratios"] = list(self.mask_ratios)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MBSLConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown MBSLConfig fields: {sorted(unknown)}")
        return cls(**data)


def _statistics_features(stats: RevINStats, present: Tensor) -> Tensor:
    """[B, 3*C_g]: signed log1p(mean), log std and presence of each channel (0 when absent).

    RevIN removes each window's level and amplitude, but those carry information: the
    accelerometer's standard deviation is activity intensity and its mean the posture, SpO2's
    level is the quantity itself, and ECG/PPG amplitude tracks contact. The statistics token
    gives them back to the encoder; log compression keeps raw units (SpO2 ~ 96 %) in range.
    """
    p = present.to(stats.mean.dtype)  # B x C_g
    mean = stats.mean[..., 0]
    mean = torch.sign(mean) * torch.log1p(mean.abs()) * p
    log_std = torch.log(stats.std[..., 0]) * p
    return torch.cat([mean, log_std, p], dim=-1)


class MBSLGroupEncoder(nn.Module):
    """Encoder of one channel group: RevIN, multi-scale patches + statistics token, masking,
    transformer, masked mean pooling, projection.

    Args:
        n_channels: channels in the group (C_g).
        config: the model config (sizes, patch lengths, mask ratios).
    """

    def __init__(self, n_channels: int, config: MBSLConfig) -> None:
        super().__init__()
        self.mask_ratios = config.mask_ratios
        self.revin = RevIN(n_channels)
        self.patches = MultiScalePatchEmbedding(
            n_channels,
            config.window_samples,
            config.patch_lengths,
            config.d_model,
            n_extra_scales=1,
        )
        self.statistics = nn.Linear(3 * n_channels, config.d_model)
        self.masking = RandomPatchMasking(config.d_model)
        layer = nn.TransformerEncoderLayer(
            config.d_model,
            config.n_heads,
            config.dim_feedforward,
            config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(
            layer, config.n_layers, norm=nn.LayerNorm(config.d_model), enable_nested_tensor=False
        )
        self.projection = nn.Linear(config.d_model, config.embed_dim)

    def _draw_ratio(self) -> float:
        index = int(torch.randint(len(self.mask_ratios), ()).item())
        return self.mask_ratios[index]

    def forward(self, x: Tensor, present: Tensor, mask: bool = True) -> Tensor:
        """Embed one group.

        Args:
            x: [B, C_g, T] the group's channels.
            present: bool [B, C_g]; absent channels are zeroed (their values never matter).
            mask: mask a ratio drawn from ``mask_ratios`` of each scale's tokens (a new
                draw per scale per call, a new subset per sample).

        Returns:
            [B, embed_dim] group embedding (the bias alone when the whole group is absent;
            the loss drops such windows through its ``valid`` argument).
        """
        present = present.to(torch.bool)
        x = x * present[..., None].to(x.dtype)
        x_hat, stats = self.revin(x)
        x_hat = x_hat * present[..., None].to(x_hat.dtype)  # RevIN's beta must not leak in
        content = self.patches.project(x_hat)  # list of B x n_p x d
        keep = []
        if mask:
            masked = [self.masking(tok, self._draw_ratio()) for tok in content]
            content = [tok for tok, _ in masked]
            keep = [~m for _, m in masked]
        else:
            keep = [torch.ones(tok.shape[:2], dtype=torch.bool, device=x.device) for tok in content]
        tokens = self.patches.add_positions(content)
        stats_token = self.statistics(_statistics_features(stats, present))
        stats_token = stats_token + self.patches.scale_embedding[-1]  # B x d
        seq = torch.cat([*tokens, stats_token[:, None, :]], dim=1)  # B x (n_tok + 1) x d
        hidden = self.transformer(seq)  # B x (n_tok + 1) x d
        stats_keep = torch.ones(x.shape[0], 1, dtype=torch.bool, device=x.device)
        keep_all = torch.cat([*keep, stats_keep], dim=1) & present.any(dim=1, keepdim=True)
        weights = keep_all.to(hidden.dtype)[..., None]  # B x (n_tok + 1) x 1
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)  # B x d
        return self.projection(pooled)


class MBSLEncoder(nn.Module):
    """One :class:`MBSLGroupEncoder` per channel group.

    Args:
        config: model config; ``config.groups`` selects the channels of each group.
    """

    def __init__(self, config: MBSLConfig) -> None:
        super().__init__()
        self.config = config
        self.groups = config.groups
        self.encoders = nn.ModuleList(MBSLGroupEncoder(len(g), config) for g in config.groups)
        for i, g in enumerate(config.groups):
            self.register_buffer(
                f"_group_index_{i}", torch.tensor(g, dtype=torch.long), persistent=False
            )

    @property
    def feature_dim(self) -> int:
        """Width of :meth:`features` (G * embed_dim)."""
        return len(self.groups) * self.config.embed_dim

    def _present(self, signals: Tensor, channel_present: Tensor | None) -> Tensor:
        if channel_present is None:
            return torch.ones(signals.shape[:2], dtype=torch.bool, device=signals.device)
        return channel_present.to(device=signals.device, dtype=torch.bool)

    def group_present(self, signals: Tensor, channel_present: Tensor | None) -> Tensor:
        """Bool [G, B]: the window has at least one channel of the group."""
        present = self._present(signals, channel_present)
        return torch.stack(
            [
                present[:, getattr(self, f"_group_index_{i}")].any(dim=1)
                for i in range(len(self.groups))
            ]
        )

    def forward(
        self, signals: Tensor, channel_present: Tensor | None = None, mask: bool = True
    ) -> Tensor:
        """Group embeddings.

        Args:
            signals: [B, C, T] float windows, channels in ``CHANNELS`` order.
            channel_present: bool [B, C] (None = all present).
            mask: random multi-scale masking (pre-training views); False for features.

        Returns:
            [G, B, embed_dim].
        """
        present = self._present(signals, channel_present)
        out = []
        for i, encoder in enumerate(self.encoders):
            index = getattr(self, f"_group_index_{i}")
            out.append(encoder(signals[:, index], present[:, index], mask=mask))
        return torch.stack(out)  # G x B x E

    def features(self, signals: Tensor, channel_present: Tensor | None = None) -> Tensor:
        """[B, G*embed_dim] unmasked group embeddings, concatenated (deterministic in eval)."""
        z = self.forward(signals, channel_present, mask=False)  # G x B x E
        return z.transpose(0, 1).reshape(z.shape[1], -1)


class MBSLPretrainModel(nn.Module):
    """Encoder + inter-group contrastive loss (MBSL pre-training), with a MoCo key encoder when
    the loss has a queue.

    Args:
        config: model config (temperature, queue and momentum settings included).
        gather_with_grad: forwarded to :class:`MultiGroupContrastiveLoss`.
        local_loss: forwarded to :class:`MultiGroupContrastiveLoss` (False = ``loss="full"``).
    """

    def __init__(
        self, config: MBSLConfig, gather_with_grad: bool = True, local_loss: bool = True
    ) -> None:
        super().__init__()
        self.config = config
        self.encoder = MBSLEncoder(config)
        # MoCo: the queue holds keys of a momentum copy of the group encoders (eq. 2).
        self.key_encoder = (
            MomentumEncoder(self.encoder, config.momentum) if config.queue_size > 0 else None
        )
        self.loss = MultiGroupContrastiveLoss(
            temperature=config.temperature,
            learn_temperature=config.learn_temperature,
            gather_with_grad=gather_with_grad,
            local_loss=local_loss,
            loss=config.loss,
            tile_size=config.tile_size,
            queue_size=config.queue_size,
            n_groups=len(config.groups),
            embed_dim=config.embed_dim,
            overlap_s=config.window_s if config.mask_overlapping_negatives else 0.0,
        )

    def forward(
        self,
        signals: Tensor,
        channel_present: Tensor | None = None,
        keys: WindowKeys | None = None,
    ) -> dict[str, Tensor]:
        """Masked multi-scale views of every group, then the contrastive loss.

        Args:
            signals, channel_present: the windows (see :meth:`MBSLEncoder.forward`).
            keys: optional window keys (sample, recording, start): overlapping windows of the
                anchor's recording and its own queued key are then no negatives of it.

        Returns:
            The loss dict of :class:`MultiGroupContrastiveLoss` (``loss``, ``loss_g{a}_g{b}``,
            ``temperature``).
        """
        z = self.encoder(signals, channel_present, mask=True)  # G x B x E
        valid = self.encoder.group_present(signals, channel_present)  # G x B
        queue_keys = None
        if self.key_encoder is not None and self.training:
            queue_keys = self.key_encoder(signals, channel_present, mask=True)  # G x B x E
        return self.loss(z, valid=valid, keys=keys, queue_keys=queue_keys)

    def after_optimizer_step(self) -> None:
        """MoCo's momentum update of the key encoder (called by the loop after each step)."""
        if self.key_encoder is not None:
            self.key_encoder.update(self.encoder)
