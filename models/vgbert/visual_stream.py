"""VG-BERT's visual stream: VGG16 conv trunk -> 1x1 conv -> 2-D positions -> self-attention.

Section 3.1 of Zhang et al. (NeurIPS 2021): the conv5_3 feature map of VGG16 (last max-pool
removed, stride 16) is projected by a 1 x 1 convolution to the language stream's width ``d``;
a learned 2-D position embedding (one vector per row plus one per column) is added and one
spatial self-attention block lets regions exchange context. Output: ``R = (H/16)(W/16)``
region features per image.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.models.vgg import cfgs, make_layers

VGG_CHANNELS = 512


def vgg16_trunk(
    weights_path: str = "", width: float = 1.0, batch_norm: bool = False
) -> nn.Sequential:
    """VGG16's convolutional layers (torchvision's configuration "D", the same module indices as
    ``vgg16().features``) without the last max-pool; ``weights_path``: a torchvision ``vgg16``
    state dict (its ``features.*`` entries are used), empty for random init. The classifier
    (120 M parameters) is never built. ``width`` scales every layer's channels (1.0: VGG16 itself,
    the only width pretrained weights fit; 0.25: the CPU sample preset, 16x fewer FLOPs);
    ``batch_norm`` adds BatchNorm after every convolution (VGG16-BN's layout: a plain 13-layer
    trunk trained from scratch barely moves in a few epochs)."""
    layers = [v if v == "M" else max(8, int(round(v * width))) for v in cfgs["D"]]
    features = make_layers(layers, batch_norm=batch_norm)
    if weights_path:
        if width != 1.0 or batch_norm:
            raise ValueError(
                "--vgg-weights fits VGG16 itself: use --vgg-width 1.0 --no-vgg-batch-norm"
            )
        path = Path(weights_path)
        if not path.is_file():
            raise FileNotFoundError(f"--vgg-weights {weights_path} does not exist")
        state = torch.load(path, map_location="cpu", weights_only=True)
        trunk = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
        features.load_state_dict(trunk or state)
    return nn.Sequential(*list(features.children())[:-1])


class LearnedPosition2D(nn.Module):
    """Learned 2-D position embedding: row vector + column vector, added to each region."""

    def __init__(self, grid: int, dim: int) -> None:
        super().__init__()
        self.rows = nn.Parameter(torch.randn(grid, dim) * 0.02)
        self.cols = nn.Parameter(torch.randn(grid, dim) * 0.02)

    def forward(self, height: int, width: int) -> Tensor:
        """[height * width, dim] (row-major), for maps up to the configured grid."""
        return (self.rows[:height, None, :] + self.cols[None, :width, :]).reshape(
            height * width, -1
        )


class VisualStream(nn.Module):
    """Images [B, 3, H, W] (ImageNet-normalised) -> region features [B, R, d]."""

    def __init__(
        self,
        dim: int,
        grid: int,
        heads: int = 8,
        dropout: float = 0.1,
        vgg_weights: str = "",
        freeze_vgg: bool = False,
        vgg_width: float = 1.0,
        vgg_batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.trunk = vgg16_trunk(vgg_weights, vgg_width, vgg_batch_norm)
        if freeze_vgg:
            self.trunk.requires_grad_(False)
        channels = max(8, int(round(VGG_CHANNELS * vgg_width)))
        self.project = nn.Conv2d(channels, dim, kernel_size=1)
        self.position = LearnedPosition2D(grid, dim)
        self.attention = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=2 * dim, dropout=dropout, batch_first=True
        )

    def forward(self, images: Tensor) -> Tensor:
        maps = self.project(self.trunk(images))  # B x d x h x w
        batch, dim, height, width = maps.shape
        regions = maps.flatten(2).transpose(1, 2)  # B x R x d
        return self.attention(regions + self.position(height, width))
