"""A tiny SyncTalkNet configuration and padded batches of synthetic face tracks for the tests."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from crossmodal_ray.models.synctalknet.config import SyncTalkNetConfig

FRAME = 40  # > 32: the trunk's last map is 2 x 2


def tiny_config(**overrides) -> SyncTalkNetConfig:
    """The small preset's structure at a few thousand parameters (a forward takes milliseconds)."""
    values = dict(
        frame_size=FRAME,
        visual_stem_channels=4,
        visual_channels=(4, 8, 8, 16),
        visual_blocks=(1, 1, 1, 1),
        visual_tcn_blocks=1,
        audio_channels=(4, 8, 8, 16),
        audio_blocks=(1, 1, 1, 1),
        embed_dim=16,
        heads=4,
    )
    return SyncTalkNetConfig(**{**values, **overrides})


def length_mask(lengths: Sequence[int], total: int) -> Tensor:
    return torch.arange(total)[None, :] < torch.tensor(lengths)[:, None]


def random_batch(
    lengths: Sequence[int], total: int | None = None, seed: int = 0, pad_pixel: int = 77
) -> dict[str, Tensor]:
    """Random faces, MFCC and labels for tracks of ``lengths`` frames padded to ``total``; the
    padded frames hold junk (``pad_pixel``, large MFCC values, label -100) that must not
    matter. Track ``i`` has the same valid content whatever ``total`` is."""
    total = total or max(lengths)
    generator = torch.Generator().manual_seed(seed)
    longest = max(lengths)
    frames = torch.randint(0, 256, (len(lengths), longest, FRAME, FRAME), generator=generator)
    mfcc = torch.randn(len(lengths), 4 * longest, 13, generator=generator) * 20.0
    labels = (torch.rand(len(lengths), longest, generator=generator) > 0.5).long()
    mask = length_mask(lengths, total)
    visual = torch.full((len(lengths), total, FRAME, FRAME), pad_pixel, dtype=torch.uint8)
    audio = torch.full((len(lengths), 4 * total, 13), 1000.0)
    padded_labels = torch.full((len(lengths), total), -100, dtype=torch.long)
    for i, n in enumerate(lengths):
        visual[i, :n] = frames[i, :n].to(torch.uint8)
        audio[i, : 4 * n] = mfcc[i, : 4 * n]
        padded_labels[i, :n] = labels[i, :n]
    return {"visual": visual, "audio": audio, "mask": mask, "labels": padded_labels}


def synchronised_batch(seed: int = 0, tracks: int = 4, frames: int = 20) -> dict[str, Tensor]:
    """Tracks whose label is "the audio energy envelope follows the mouth's brightness".

    Each track has an on/off mouth signal (a bright mouth patch on a mid-grey face); the first
    half of the tracks speak in sync (MFCC c0, the log-energy, follows the mouth; labels = the
    mouth signal), the others are listeners over unrelated audio (labels 0)."""
    generator = torch.Generator().manual_seed(seed)
    mouth = (torch.rand(tracks, frames, generator=generator) > 0.5).float()
    other = (torch.rand(tracks, frames, generator=generator) > 0.5).float()
    speaking = torch.arange(tracks) < tracks // 2
    energy = torch.where(speaking[:, None], mouth, other)
    visual = torch.full((tracks, frames, FRAME, FRAME), 110.0)
    visual[:, :, 20:26, 10:22] = 30.0 + 200.0 * mouth[:, :, None, None]
    visual += 5.0 * torch.randn(visual.shape, generator=generator)
    audio = torch.randn(tracks, 4 * frames, 13, generator=generator)
    audio[:, :, 0] += 20.0 * energy.repeat_interleave(4, dim=1) - 10.0
    labels = torch.where(speaking[:, None], mouth, torch.zeros_like(mouth)).long()
    mask = torch.ones(tracks, frames, dtype=torch.bool)
    return {
        "visual": visual.clamp(0, 255).to(torch.uint8),
        "audio": audio,
        "mask": mask,
        "labels": labels,
    }
