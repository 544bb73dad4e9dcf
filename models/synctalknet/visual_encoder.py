"""TalkNet's visual temporal encoder: face crops [B, T, H, W] -> one embedding per frame [B, T, E].

Tao et al., "Is Someone Speaking? Exploring Long-term Temporal Features for Audio-visual Active
Speaker Detection" (ACM MM 2021), section 3.1 ("visual temporal encoder")::

    pixels / 255, (x - 0.4161) / 0.1688           # TalkNet's grayscale mean and std
    3-D conv 5x7x7, stride (1, 2, 2) + BN + ReLU + max-pool 3x3 / 2   # front end, H/4
    ResNet-18 trunk per frame (BasicBlocks, strides 1, 2, 2, 2) + global average pool -> 512
    V-TCN: 5 x [ReLU, BN, depthwise conv k=3, PReLU, BN, pointwise conv] + residual
    conv k=5 512 -> 256, BN, ReLU, conv k=1 256 -> 128

TalkNet's released code runs the 3-D convolution on one frame at a time (time depth 1), which
leaves its 5-frame kernel one frame wide; here it runs over the track, as the paper describes.

Padding: padded frames are set to 0 after the pixel normalisation (what the convolution's own
zero padding gives at a track's end), the per-frame trunk runs on the valid frames only (so its
BatchNorm statistics are those of the valid frames, and no compute goes to padding), and every
temporal BatchNorm is a :class:`MaskedBatchNorm`. A track's embeddings do not depend on how far
it is padded.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock

from crossmodal_ray.models.synctalknet.config import SyncTalkNetConfig
from crossmodal_ray.models.synctalknet.masked_norm import MaskedBatchNorm

PIXEL_MEAN = 0.4161  # TalkNet's grayscale face statistics, on [0, 1] pixels
PIXEL_STD = 0.1688


def resnet_stage(in_channels: int, channels: int, blocks: int, stride: int) -> nn.Sequential:
    """``blocks`` BasicBlocks; the first one changes width / stride through a 1x1 projection."""
    downsample = None
    if stride != 1 or in_channels != channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
            nn.BatchNorm2d(channels),
        )
    layers = [BasicBlock(in_channels, channels, stride, downsample)]
    layers += [BasicBlock(channels, channels) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class FrameTrunk(nn.Module):
    """Per-frame 2-D ResNet after the 3-D front end: [N, C0, H/4, W/4] -> [N, C_last]."""

    def __init__(self, stem_channels: int, channels: Sequence[int], blocks: Sequence[int]) -> None:
        super().__init__()
        stages, width = [], stem_channels
        for i, (c, n) in enumerate(zip(channels, blocks, strict=True)):
            stages.append(resnet_stage(width, c, n, stride=1 if i == 0 else 2))
            width = c
        self.stages = nn.Sequential(*stages)
        self.out_channels = width

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(self.stages(x), 1).flatten(1)


class TemporalSeparableBlock(nn.Module):
    """One V-TCN block: depthwise-separable temporal convolution with a residual."""

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.norm1 = MaskedBatchNorm(channels)
        self.depthwise = nn.Conv1d(
            channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=False
        )
        self.prelu = nn.PReLU()
        self.norm2 = MaskedBatchNorm(channels)
        self.pointwise = nn.Conv1d(channels, channels, 1, bias=False)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """``x`` [B, C, T], zero on padded frames -> the same."""
        y = self.depthwise(self.norm1(F.relu(x), mask))
        y = self.pointwise(self.norm2(self.prelu(y), mask))  # zero on padding: no bias
        return x + y


class VisualEncoder(nn.Module):
    """Grayscale face crops [B, T, H, W] (0-255, uint8 or float) -> embeddings [B, T, E]."""

    def __init__(self, config: SyncTalkNetConfig) -> None:
        super().__init__()
        c = config
        kt, kh, kw = c.visual_stem_kernel
        self.frame_size = c.frame_size
        self.stem_conv = nn.Conv3d(
            1,
            c.visual_stem_channels,
            (kt, kh, kw),
            stride=(1, 2, 2),
            padding=(kt // 2, kh // 2, kw // 2),
            bias=False,
        )
        self.stem_norm = nn.BatchNorm2d(c.visual_stem_channels)
        self.trunk = FrameTrunk(c.visual_stem_channels, c.visual_channels, c.visual_blocks)
        width = self.trunk.out_channels
        self.tcn = nn.ModuleList(TemporalSeparableBlock(width) for _ in range(c.visual_tcn_blocks))
        self.project_conv = nn.Conv1d(width, 2 * c.embed_dim, 5, padding=2, bias=False)
        self.project_norm = MaskedBatchNorm(2 * c.embed_dim)
        self.project_out = nn.Conv1d(2 * c.embed_dim, c.embed_dim, 1)

    def frame_features(self, frames: Tensor, mask: Tensor) -> Tensor:
        """Front end + trunk: [B, T, H, W] -> [B, C, T] (zero on padded frames)."""
        b, t, h, w = frames.shape
        if h != self.frame_size or w != self.frame_size:
            raise ValueError(
                f"face crops are {h}x{w} but the model's frame_size is {self.frame_size}"
            )
        x = (frames.float() / 255.0 - PIXEL_MEAN) / PIXEL_STD
        x = x * mask[:, :, None, None].to(x.dtype)
        x = self.stem_conv(x[:, None])  # B x C0 x T x H/2 x W/2
        x = x.transpose(1, 2)[mask]  # N_valid x C0 x H/2 x W/2: the valid frames only
        x = F.max_pool2d(F.relu(self.stem_norm(x)), 3, stride=2, padding=1)
        per_frame = self.trunk(x)  # N_valid x C
        out = per_frame.new_zeros(b, t, per_frame.shape[1])
        out[mask] = per_frame
        return out.transpose(1, 2)

    def forward(self, frames: Tensor, mask: Tensor) -> Tensor:
        x = self.frame_features(frames, mask)
        for block in self.tcn:
            x = block(x, mask)
        x = F.relu(self.project_norm(self.project_conv(x), mask))
        x = self.project_out(x) * mask[:, None, :].to(x.dtype)
        return x.transpose(1, 2)  # B x T x E
