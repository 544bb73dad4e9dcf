"""COOLANT's unimodal encoders: text (BERT-family) and image (torchvision backbone), each
projected to ``projection_dim`` (128), section 3.1 of Wang et al. (ACM MM 2023).

The text feature is the mean of the last layer's token features over the attention mask (the
sentence embedding all-MiniLM-L6-v2 was trained for; a BERT folder works the same way). The
image backbone is a torchvision classifier without its classification layer (``weights=None``
by default; ``image_weights`` loads a torchvision state dict and freezes the backbone, as the
paper uses a pretrained, fixed extractor).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn

from crossmodal_ray.models.layers.pretrained_text import load_text_encoder, train_last_layers


def projection(in_dim: int, out_dim: int, dropout: float) -> nn.Sequential:
    """Linear -> LayerNorm -> GELU -> dropout (the unimodal projection heads)."""
    return nn.Sequential(
        nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim), nn.GELU(), nn.Dropout(dropout)
    )


def pooled_text_features(encoder: nn.Module, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """Mean of the last layer's token features over the attention mask: [B, hidden]."""
    tokens = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    weights = attention_mask.to(tokens.dtype)[..., None]
    return (tokens * weights).sum(1) / weights.sum(1).clamp_min(1.0)


class TextEncoder(nn.Module):
    """Token ids [B, W] + attention mask -> text features [B, projection_dim].

    With a frozen encoder (``trainable_layers=0``) its pooled output never changes, so the
    training data may carry it precomputed (``pooled`` [B, hidden], see
    ``training/tasks/coolant_text_features.py``): the forward then only projects it.
    """

    def __init__(self, path: str, trainable_layers: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.encoder = load_text_encoder(path)
        train_last_layers(self.encoder, trainable_layers)
        self.frozen = trainable_layers == 0
        self.hidden_size = int(self.encoder.config.hidden_size)
        self.project = projection(self.hidden_size, out_dim, dropout)

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        pooled: Tensor | None = None,
    ) -> Tensor:
        if pooled is None:
            if input_ids is None or attention_mask is None:
                raise ValueError("the text encoder needs token ids and a mask, or pooled features")
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
                pooled = pooled_text_features(self.encoder, input_ids, attention_mask)
        elif not self.frozen:
            raise ValueError("precomputed text features need a frozen text encoder")
        return self.project(pooled)


def image_backbone(name: str, weights_path: str = "") -> tuple[nn.Module, int]:
    """A torchvision classifier without its last layer, and its feature width."""
    model = getattr(torchvision.models, name)(weights=None)
    if weights_path:
        path = Path(weights_path)
        if not path.is_file():
            raise FileNotFoundError(f"--image-weights {weights_path} does not exist")
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    if name.startswith("resnet"):
        width = model.fc.in_features
        model.fc = nn.Identity()
    else:  # vgg: keep the classifier up to its second 4096-d layer
        width = model.classifier[-1].in_features
        model.classifier[-1] = nn.Identity()
    return model, width


class ImageEncoder(nn.Module):
    """Images [B, 3, S, S] (ImageNet-normalised) -> image features [B, projection_dim]."""

    def __init__(
        self, name: str, weights_path: str, frozen: bool, out_dim: int, dropout: float
    ) -> None:
        super().__init__()
        self.backbone, width = image_backbone(name, weights_path)
        self.frozen = frozen
        if frozen:
            self.backbone.requires_grad_(False)
        self.project = projection(width, out_dim, dropout)

    def train(self, mode: bool = True) -> ImageEncoder:
        super().train(mode)
        if self.frozen:
            self.backbone.eval()  # a frozen extractor keeps its BatchNorm statistics
        return self

    def forward(self, images: Tensor) -> Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            features = self.backbone(images)
        return self.project(features)
