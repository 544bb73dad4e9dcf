"""Typed configuration of the VG-BERT two-stream model, with the paper's defaults.

Zhang, Choi, Han, Liu, "Explainable Semantic Space by Grounding Language to Vision with
Cross-Modal Contrastive Learning" (NeurIPS 2021), section 3 and appendix:

- visual stream: VGG16's convolutional trunk without its last max-pool (conv5_3, stride 16:
  a 224 px image gives 14 x 14 = 196 regions of 512 channels), a 1 x 1 convolution to the
  language stream's width ``d``, a learned 2-D position embedding and one spatial
  self-attention block -> region features ``v_r``;
- language stream: BERT; the last ``trainable_text_layers`` (8) layers are trained, with the
  query and key projections of every layer frozen; the VGG convolutions are frozen when
  pretrained weights are loaded;
- S(I, C) = mean over words of max over regions (eq. 1), raw dot products
  (``normalize_features=False``), symmetric InfoNCE with sigma = 0.1 (eq. 2).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from crossmodal_ray.models.layers.pretrained_text import default_text_model_path


@dataclass
class VGBERTConfig:
    """Model hyper-parameters (each a flag of ``jobs/train_vgbert.py``).

    Attributes:
        text_model: Folder of a BERT-family model (``AutoModel.from_pretrained``); empty: the
            bundled all-MiniLM-L6-v2.
        vgg_weights: Path of a torchvision VGG16 ``state_dict`` (empty: random init).
        vgg_width: Channel multiplier of the VGG trunk (1.0 = VGG16; the ``small`` preset's 0.25
            trains on a CPU).
        vgg_batch_norm: BatchNorm after every VGG convolution (VGG16-BN; from scratch only).
        freeze_vgg: Freeze the VGG convolutions (the paper, with pretrained weights); None:
            frozen exactly when ``vgg_weights`` is given.
        trainable_text_layers: The last N BERT layers are trained (8 in the paper), the rest
            and the embeddings frozen.
        freeze_query_key: Freeze every BERT layer's query and key projections (the paper).
        image_size: Input side in pixels (224 in the paper); regions = (image_size / 16)^2.
        attention_heads: Heads of the spatial self-attention block.
        dropout: Dropout of that block.
        normalize_features: L2-normalise words and regions before the dot product (the
            paper: raw dot products).
        temperature: sigma of eq. 2 (0.1).
        max_words: Tokens per caption (padded/truncated).
        tile_size: Images x captions per tile of the max-sim similarity.
    """

    text_model: str = ""
    vgg_weights: str = ""
    vgg_width: float = 1.0
    vgg_batch_norm: bool = False
    freeze_vgg: bool | None = None
    trainable_text_layers: int = 8
    freeze_query_key: bool = True
    image_size: int = 224
    attention_heads: int = 8
    dropout: float = 0.1
    normalize_features: bool = False
    temperature: float = 0.1
    max_words: int = 32
    tile_size: int = 64

    def __post_init__(self) -> None:
        if self.image_size % 16 or self.image_size < 32:
            raise ValueError(
                f"image_size must be a multiple of 16 and >= 32, got {self.image_size}"
            )
        if self.temperature <= 0:
            raise ValueError("temperature must be positive")

    @property
    def region_grid(self) -> int:
        """Regions per side (VGG16 without its last pool has stride 16)."""
        return self.image_size // 16

    @property
    def vgg_frozen(self) -> bool:
        return bool(self.vgg_weights) if self.freeze_vgg is None else self.freeze_vgg

    def resolved_text_model(self) -> str:
        return self.text_model or default_text_model_path()

    @classmethod
    def paper(cls, **overrides: Any) -> VGBERTConfig:
        """The paper's sizes: VGG16 at 224 px (196 regions)."""
        return cls(**overrides)

    @classmethod
    def small(cls, **overrides: Any) -> VGBERTConfig:
        """The sample corpus on a CPU: a quarter-width VGG-BN at 64 px (16 regions), 2 trainable
        BERT layers, 16 tokens, cosine similarities (with raw dot products of MiniLM's word
        features, S / 0.1 saturates the softmax: the loss started at 41 against ln 64 = 4.2)."""
        values = dict(
            image_size=64,
            vgg_width=0.25,
            vgg_batch_norm=True,
            trainable_text_layers=2,
            max_words=16,
            dropout=0.0,
            normalize_features=True,
        )
        return cls(**{**values, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> VGBERTConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})
