"""Typed configuration of COOLANT, with the paper's defaults.

Wang, Zhang, Xu, Xu, Xu, Wang, "Cross-modal Contrastive Learning for Multimodal Fake News
Detection" (ACM MM 2023), section 3:

- unimodal encoders: a BERT-family text encoder and a torchvision image backbone, each followed
  by a projection to ``projection_dim`` = 128;
- cross-modal alignment: aligners 128 -> ``aligned_dim`` = 64, symmetric InfoNCE at
  ``temperature`` = 0.07 (logit scale 1 / 0.07 = 14.3; the authors' code writes exp(0.07) =
  1.07, which this project does not copy) plus ``soft_target_weight`` (lambda = 0.2) times the
  soft-target InfoNCE whose targets are the softmax of an auxiliary similarity module (trained
  with a cosine-embedding loss, margin ``similarity_margin`` = 0.2, by its own optimiser);
- fusion: outer product of the aligned vectors / sqrt(64), row softmax, max-pool, linear;
- ambiguity-aware attention over (text, image, fusion): two Gaussian encoders, the symmetric KL
  of their posteriors gives the ambiguity ``s``; the attention is pulled toward
  ``[1 - s, 1 - s, s]``; detection loss CE + ``ambiguity_kl_weight`` (0.5) * KL.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from crossmodal_ray.models.layers.pretrained_text import default_text_model_path

MODALITIES = ("both", "text", "image")
IMAGE_BACKBONES = ("resnet18", "resnet34", "resnet50", "vgg16", "vgg16_bn")


@dataclass
class CoolantConfig:
    """Model hyper-parameters (each a flag of ``jobs/train_coolant.py``).

    Attributes:
        text_model: Folder of a BERT-family model (``AutoModel.from_pretrained``; a Chinese
            BERT for Weibo); empty: the bundled all-MiniLM-L6-v2.
        trainable_text_layers: The last N transformer layers are fine-tuned (0: the text
            encoder is a frozen feature extractor).
        image_backbone: torchvision architecture of the image encoder.
        image_weights: Path of a torchvision ``state_dict`` for it (empty: random init).
        freeze_image: Freeze the backbone (None: frozen exactly when ``image_weights`` is given).
        image_size: Input side in pixels (224 in the paper).
        max_words: Tokens per post text.
        projection_dim: Width of the unimodal projections (128).
        aligned_dim: Width of the aligned space (64).
        latent_dim: Width of the Gaussian ambiguity encoders.
        temperature: tau of the contrastive losses (0.07).
        soft_target_weight: lambda of L_itc + lambda * L_soft (0.2; 0: the paper's ablation
            without soft targets).
        similarity_margin: Margin of the auxiliary module's cosine-embedding loss (0.2).
        contrastive_weight: Weight of the alignment losses next to the detection loss.
        ambiguity_kl_weight: Weight of the attention KL in the detection loss (0.5).
        dropout: Dropout before the classifier.
        modality: ``both`` (COOLANT) or ``text`` / ``image`` (single-modality baselines: that
            encoder, its projection and a classifier, trained the same way).
    """

    text_model: str = ""
    trainable_text_layers: int = 0
    image_backbone: str = field(default="resnet34", metadata={"choices": IMAGE_BACKBONES})
    image_weights: str = ""
    freeze_image: bool | None = None
    image_size: int = 224
    max_words: int = 64
    projection_dim: int = 128
    aligned_dim: int = 64
    latent_dim: int = 64
    temperature: float = 0.07
    soft_target_weight: float = 0.2
    similarity_margin: float = 0.2
    contrastive_weight: float = 1.0
    ambiguity_kl_weight: float = 0.5
    dropout: float = 0.1
    modality: str = field(default="both", metadata={"choices": MODALITIES})

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        if self.image_backbone not in IMAGE_BACKBONES:
            raise ValueError(f"image_backbone must be one of {IMAGE_BACKBONES}")
        if self.temperature <= 0:
            raise ValueError("temperature must be positive")

    @property
    def image_frozen(self) -> bool:
        return bool(self.image_weights) if self.freeze_image is None else self.freeze_image

    def resolved_text_model(self) -> str:
        return self.text_model or default_text_model_path()

    @classmethod
    def paper(cls, **overrides: Any) -> CoolantConfig:
        return cls(**overrides)

    @classmethod
    def small(cls, **overrides: Any) -> CoolantConfig:
        """The sample corpus on a CPU: ResNet-18 at 48 px (colours and shapes stay visible; half
        the compute of 64 px), frozen MiniLM (64 tokens: a sample tweet has 39 in the median,
        56 at most, and the caption's last named colours must not be cut off)."""
        values = dict(image_backbone="resnet18", image_size=48)
        return cls(**{**values, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CoolantConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})
