"""VG-BERT's language stream: a BERT-family encoder loaded with ``AutoModel.from_pretrained``.

Section 3.1 / appendix of Zhang et al. (NeurIPS 2021): BERT's last-layer token features are the
word features ``w_t``; only the last ``trainable_layers`` (8 of BERT-base's 12) are trained, and
in every layer the query and key projections stay frozen, so grounding changes what words
carry (values, feed-forward) without re-learning how they attend. Embeddings stay frozen.
"""

from __future__ import annotations

from torch import Tensor, nn

from crossmodal_ray.models.layers.pretrained_text import (
    encoder_layers,
    load_text_encoder,
    train_last_layers,
)


def apply_paper_freezing(model: nn.Module, trainable_layers: int, freeze_query_key: bool) -> None:
    """Freeze all but the last ``trainable_layers`` layers (and the embeddings), then, if asked,
    the query and key projections of every layer."""
    train_last_layers(model, trainable_layers)
    if freeze_query_key:
        for layer in encoder_layers(model):
            layer.attention.self.query.requires_grad_(False)
            layer.attention.self.key.requires_grad_(False)


class LanguageStream(nn.Module):
    """Token ids [B, W] + attention mask -> word features [B, W, d].

    Which tokens count as words is the tokenizer's business (it runs in the collate): pass the
    ``word_mask`` the loss should average over, i.e. the attention mask without the special
    tokens (``tokenizer(..., return_special_tokens_mask=True)``).
    """

    def __init__(self, path: str, trainable_layers: int = 8, freeze_query_key: bool = True):
        super().__init__()
        self.encoder = load_text_encoder(path)
        apply_paper_freezing(self.encoder, trainable_layers, freeze_query_key)
        self.dim = int(self.encoder.config.hidden_size)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return out.last_hidden_state
