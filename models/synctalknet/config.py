"""Typed configuration of SyncTalkNet, with TalkNet's sizes and the paper's defaults.

Wuerkaixi, Zhang, Duan, Zhang, "Rethinking Audio-visual Synchronization for Active Speaker
Detection" (MLSP 2022) keeps TalkNet (Tao et al., ACM MM 2021) and adds two things:

- a sinusoidal positional encoding on both inputs of every attention layer
  (``positional_encoding``; off = TalkNet, the paper's ablation);
- contrastive track exchange: the visual embeddings of the batch's speaking tracks are permuted
  by a derangement, and the mismatched audio/visual pairs are labelled not-speaking in the AV
  loss (``track_exchange``, ``exchange_weight``).

TalkNet's sizes (``paper()``): 112 x 112 grayscale faces; visual front end = 3-D conv 5x7x7, 64
channels, stride (1, 2, 2) + max-pool, then a ResNet-18 trunk per frame (BasicBlocks (2, 2, 2, 2),
channels 64-128-256-512), then 5 depthwise-separable temporal conv blocks (V-TCN) and a temporal
conv 512 -> 256 -> 128; audio = SE-ResNet-34 over the [13, 4T] MFCC map (blocks (3, 4, 6, 3),
channels 16-32-64-128 as TalkNet's released model, SE reduction 8, time stride 4 so that four
100 Hz audio frames make one 25 fps video frame) -> 128-d per frame; cross-attention both ways
(d = 128, 8 heads), self-attention on the concatenation (d = 256, 8 heads); heads: AV classifier
on the 256-d, audio-only and visual-only classifiers on the 128-d; loss = CE(AV) + 0.4 CE(A) +
0.4 CE(V). Dropout 0.1 in the attention layers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# Four 100 Hz MFCC frames per 25 fps video frame: the audio encoder's time stride.
AUDIO_FRAMES_PER_VIDEO_FRAME = 4
NUM_CLASSES = 2  # 0 = not speaking, 1 = speaking (audible)
# Spatial stride of the visual front end + trunk: stem 2, max-pool 2, stages 1, 2, 2, 2.
FRAME_STRIDE = 32


@dataclass
class SyncTalkNetConfig:
    """Model hyper-parameters (each a flag of ``jobs/train_synctalknet.py``).

    Attributes:
        frame_size: Side of the square grayscale face crops in pixels (112 in TalkNet); the
            crop is the data's (the shards' ``frame_size``), the model checks it.
        visual_stem_channels: Channels of the 3-D conv front end (64).
        visual_stem_kernel: Its kernel (time, height, width): (5, 7, 7).
        visual_channels: Channels of the per-frame ResNet trunk's four stages (64, 128, 256,
            512: ResNet-18).
        visual_blocks: BasicBlocks per stage (2, 2, 2, 2: ResNet-18).
        visual_tcn_blocks: Depthwise-separable temporal conv blocks of the V-TCN (5).
        audio_channels: Channels of the SE-ResNet's four stages (16, 32, 64, 128).
        audio_blocks: SE-BasicBlocks per stage (3, 4, 6, 3: ResNet-34's layout).
        se_reduction: Squeeze-and-excitation reduction ratio (8).
        mfcc_dim: MFCC coefficients per audio frame (13).
        mfcc_batch_norm: Normalise each MFCC coefficient (batch norm over the valid audio frames)
            before the audio encoder. TalkNet feeds raw MFCCs; librosa's c0 spans hundreds of
            units while the others span tens, and a per-coefficient normalisation lets the small
            preset learn in minutes (choice of this project).
        embed_dim: Width of the per-frame audio and visual embeddings and of the cross-attention
            (128); the self-attention is 2 x embed_dim wide.
        heads: Attention heads of every attention layer (8).
        feedforward_multiplier: Feed-forward width of the attention layers, in multiples of
            their width (4).
        dropout: Dropout of the attention layers (0.1).
        positional_encoding: Sinusoidal encoding on both inputs of every attention layer (the
            paper; off: TalkNet).
        track_exchange: Contrastive track exchange during training (the paper; off: TalkNet).
        exchange_weight: Weight of the exchanged pairs' not-speaking CE in the loss (1).
        aux_loss_weight: Weight of each of the audio-only and visual-only CE losses (0.4).
    """

    frame_size: int = 112
    visual_stem_channels: int = 64
    visual_stem_kernel: tuple[int, ...] = (5, 7, 7)
    visual_channels: tuple[int, ...] = (64, 128, 256, 512)
    visual_blocks: tuple[int, ...] = (2, 2, 2, 2)
    visual_tcn_blocks: int = 5
    audio_channels: tuple[int, ...] = (16, 32, 64, 128)
    audio_blocks: tuple[int, ...] = (3, 4, 6, 3)
    se_reduction: int = 8
    mfcc_dim: int = 13
    mfcc_batch_norm: bool = True
    embed_dim: int = 128
    heads: int = 8
    feedforward_multiplier: int = 4
    dropout: float = 0.1
    positional_encoding: bool = True
    track_exchange: bool = True
    exchange_weight: float = 1.0
    aux_loss_weight: float = 0.4

    def __post_init__(self) -> None:
        self.visual_stem_kernel = tuple(int(k) for k in self.visual_stem_kernel)
        self.visual_channels = tuple(int(c) for c in self.visual_channels)
        self.visual_blocks = tuple(int(b) for b in self.visual_blocks)
        self.audio_channels = tuple(int(c) for c in self.audio_channels)
        self.audio_blocks = tuple(int(b) for b in self.audio_blocks)
        if len(self.visual_stem_kernel) != 3 or any(k % 2 == 0 for k in self.visual_stem_kernel):
            raise ValueError("visual_stem_kernel must be three odd sizes (time, height, width)")
        if len(self.visual_channels) != 4 or len(self.visual_blocks) != 4:
            raise ValueError("visual_channels and visual_blocks need one entry per ResNet stage")
        if len(self.audio_channels) != 4 or len(self.audio_blocks) != 4:
            raise ValueError("audio_channels and audio_blocks need one entry per SE-ResNet stage")
        if min(self.visual_blocks + self.audio_blocks) < 1:
            raise ValueError("every stage needs at least one block")
        if self.embed_dim % (2 * self.heads):
            raise ValueError("embed_dim must be a multiple of 2 * heads (even for the encoding)")
        if self.frame_size <= FRAME_STRIDE:
            # The trunk's last map must be at least 2 x 2, so that its BatchNorm has statistics
            # even for a batch of one valid frame.
            raise ValueError(f"frame_size must exceed the visual trunk's stride {FRAME_STRIDE}")
        if self.exchange_weight < 0 or self.aux_loss_weight < 0:
            raise ValueError("loss weights must be non-negative")

    @property
    def av_dim(self) -> int:
        """Width of the self-attention over the concatenated audio and visual streams."""
        return 2 * self.embed_dim

    @classmethod
    def paper(cls, **overrides: Any) -> SyncTalkNetConfig:
        """TalkNet's sizes with the paper's positional encoding and track exchange."""
        return cls(**overrides)

    @classmethod
    def small(cls, **overrides: Any) -> SyncTalkNetConfig:
        """The sample corpus on this 2-core CPU: the same structure, 48 px crops (a drawn mouth
        stays a few pixels high), 4x narrower visual trunk with one block per stage, 2 V-TCN
        blocks, an SE-ResNet with one block per stage, 64-d embeddings (8 heads of 8)."""
        values: dict[str, Any] = dict(
            frame_size=48,
            visual_stem_channels=16,
            visual_channels=(16, 32, 64, 128),
            visual_blocks=(1, 1, 1, 1),
            visual_tcn_blocks=2,
            audio_channels=(16, 32, 48, 64),
            audio_blocks=(1, 1, 1, 1),
            embed_dim=64,
        )
        return cls(**{**values, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SyncTalkNetConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})
