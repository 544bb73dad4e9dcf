"""The VG-BERT two-stream model of stage 1: visual and language streams aligned by eq. 2.

``forward`` returns the symmetric word-region max-sim InfoNCE over the global negative pool
(:class:`crossmodal_ray.models.losses.word_region_maxsim.MaxSimContrastiveLoss`); the
language stream alone is the grounded text encoder that ``jobs/export_text_encoder.py``
exports.
"""

from __future__ import annotations

from torch import Tensor, nn

from crossmodal_ray.models.losses.word_region_maxsim import MaxSimContrastiveLoss
from crossmodal_ray.models.vgbert.config import VGBERTConfig
from crossmodal_ray.models.vgbert.language_stream import LanguageStream
from crossmodal_ray.models.vgbert.visual_stream import VisualStream


class VGBERTModel(nn.Module):
    """Images + captions -> region and word features -> max-sim contrastive loss."""

    def __init__(self, config: VGBERTConfig) -> None:
        super().__init__()
        self.config = config
        self.language = LanguageStream(
            config.resolved_text_model(), config.trainable_text_layers, config.freeze_query_key
        )
        self.visual = VisualStream(
            self.language.dim,
            config.region_grid,
            config.attention_heads,
            config.dropout,
            config.vgg_weights,
            config.vgg_frozen,
            config.vgg_width,
            config.vgg_batch_norm,
        )
        self.loss = MaxSimContrastiveLoss(
            config.temperature, config.normalize_features, config.tile_size
        )

    def encode_images(self, images: Tensor) -> Tensor:
        """[B, 3, H, W] -> region features [B, R, d]."""
        return self.visual(images)

    def encode_text(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """[B, W] token ids -> word features [B, W, d]."""
        return self.language(input_ids, attention_mask)

    def forward(
        self, images: Tensor, input_ids: Tensor, attention_mask: Tensor, word_mask: Tensor
    ) -> dict[str, Tensor]:
        regions = self.encode_images(images)
        words = self.encode_text(input_ids, attention_mask)
        return {"loss": self.loss(regions, words, word_mask)}
