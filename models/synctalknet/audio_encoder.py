"""TalkNet's audio temporal encoder: MFCC [B, 4T, 13] -> one embedding per video frame [B, T, E].

Tao et al. (ACM MM 2021), section 3.1 ("audio temporal encoder"): a ResNet-34 with
squeeze-and-excitation blocks (SE-ResNet, Hu et al., CVPR 2018) over the MFCC map taken as a
one-channel image [13 coefficients, 4T audio frames] (100 Hz, four per 25 fps video frame)::

    conv 7x7, stride (2, 1) + BN + ReLU              # frequency 13 -> 7, time 4T
    stage 1: 3 SE-BasicBlocks, stride (1, 1)         # channels 16 (TalkNet's released sizes)
    stage 2: 4 blocks, stride (2, 2)                 # 32;  frequency 4, time 2T
    stage 3: 6 blocks, stride (2, 2)                 # 64;  frequency 2, time T
    stage 4: 3 blocks, stride (1, 1)                 # 128
    mean over frequency -> [B, T, 128]

SE-BasicBlock: conv 3x3 - BN - ReLU - conv 3x3 - BN - SE (global average -> FC C/r - ReLU - FC C -
sigmoid, r = 8) - add the shortcut - ReLU. A 1x1 projection follows when the last stage is not
``embed_dim`` wide (TalkNet's is). Padding: every BatchNorm is a :class:`MaskedBatchNorm` (zero on
padded audio frames, statistics of the valid ones), the SE average runs over valid frames only,
and the time masks follow the strides (4T -> 2T -> T valid frames), so no padded frame reaches a
valid one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmodal_ray.models.synctalknet.config import AUDIO_FRAMES_PER_VIDEO_FRAME, SyncTalkNetConfig
from crossmodal_ray.models.synctalknet.masked_norm import (
    MaskedBatchNorm,
    downsample_mask,
    masked_time_mean,
)

# (frequency, time) strides of the four stages: time 4T -> 4T -> 2T -> T -> T.
STAGE_STRIDES = ((1, 1), (2, 2), (2, 2), (1, 1))


class SqueezeExcitation(nn.Module):
    """Channel gates from the masked global average of a block's output [B, C, F, L]."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.squeeze = nn.Linear(channels, hidden)
        self.excite = nn.Linear(hidden, channels)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        gates = torch.sigmoid(self.excite(F.relu(self.squeeze(masked_time_mean(x, mask)))))
        return x * gates[:, :, None, None]


class SEBasicBlock(nn.Module):
    """Residual block of two 3x3 convolutions with squeeze-and-excitation."""

    def __init__(
        self, in_channels: int, channels: int, stride: tuple[int, int], reduction: int
    ) -> None:
        super().__init__()
        self.time_stride = stride[1]
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.norm1 = MaskedBatchNorm(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = MaskedBatchNorm(channels)
        self.se = SqueezeExcitation(channels, reduction)
        self.shortcut_conv = None
        self.shortcut_norm = None
        if stride != (1, 1) or in_channels != channels:
            self.shortcut_conv = nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False)
            self.shortcut_norm = MaskedBatchNorm(channels)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``x`` [B, C, F, L] zero on padded frames, ``mask`` [B, L] -> (output, its mask)."""
        out_mask = downsample_mask(mask, self.time_stride)
        y = F.relu(self.norm1(self.conv1(x), out_mask))
        y = self.se(self.norm2(self.conv2(y), out_mask), out_mask)
        shortcut = x
        if self.shortcut_conv is not None:
            shortcut = self.shortcut_norm(self.shortcut_conv(x), out_mask)
        return F.relu(y + shortcut), out_mask


class AudioEncoder(nn.Module):
    """MFCC [B, 4T, mfcc_dim] with the video-frame mask [B, T] -> embeddings [B, T, E]."""

    def __init__(self, config: SyncTalkNetConfig) -> None:
        super().__init__()
        c = config
        self.input_norm = MaskedBatchNorm(c.mfcc_dim) if c.mfcc_batch_norm else None
        first = c.audio_channels[0]
        self.stem_conv = nn.Conv2d(1, first, 7, stride=(2, 1), padding=3, bias=False)
        self.stem_norm = MaskedBatchNorm(first)
        blocks, width = [], first
        for channels, count, stride in zip(
            c.audio_channels, c.audio_blocks, STAGE_STRIDES, strict=True
        ):
            for i in range(count):
                blocks.append(
                    SEBasicBlock(width, channels, stride if i == 0 else (1, 1), c.se_reduction)
                )
                width = channels
        self.blocks = nn.ModuleList(blocks)
        self.project = None if width == c.embed_dim else nn.Conv1d(width, c.embed_dim, 1)

    def forward(self, mfcc: Tensor, mask: Tensor) -> Tensor:
        b, t = mask.shape
        if mfcc.shape[1] != AUDIO_FRAMES_PER_VIDEO_FRAME * t:
            raise ValueError(
                f"audio has {mfcc.shape[1]} frames for {t} video frames "
                f"(expected {AUDIO_FRAMES_PER_VIDEO_FRAME} per video frame)"
            )
        audio_mask = mask.repeat_interleave(AUDIO_FRAMES_PER_VIDEO_FRAME, dim=1)  # B x 4T
        x = mfcc.float().transpose(1, 2)  # B x 13 x 4T
        if self.input_norm is not None:
            x = self.input_norm(x, audio_mask)
        else:
            x = x * audio_mask[:, None, :].to(x.dtype)
        x = F.relu(self.stem_norm(self.stem_conv(x[:, None]), audio_mask))  # B x C x 7 x 4T
        for block in self.blocks:
            x, audio_mask = block(x, audio_mask)
        x = x.mean(dim=2)  # B x C x T: average over the frequency axis
        if self.project is not None:
            x = self.project(x)
        return (x * mask[:, None, :].to(x.dtype)).transpose(1, 2)  # B x T x E
