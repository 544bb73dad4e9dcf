"""TalkNet's audio-visual cross-attention and self-attention, with the paper's positional encoding.

Tao et al. (ACM MM 2021), section 3.2; Wuerkaixi et al. (MLSP 2022), section 3.1::

    audio_stream  = Attn(query = audio,  key/value = visual)     # visual -> audio, d = E
    visual_stream = Attn(query = visual, key/value = audio)      # audio -> visual, d = E
    av            = Attn(query = key/value = [audio_stream ; visual_stream])   # d = 2E

Every ``Attn`` is a :class:`PositionalAttentionLayer`: the sinusoidal encoding is added to its
query input and to its key/value input (three layers, six inputs), unless
``positional_encoding`` is off (TalkNet, the ablation). Padded frames are keys nobody attends to
(``key_padding_mask``); their outputs are garbage that the heads and the losses mask out.

Where TalkNet's released code puts the residual on the key/value side of its cross-attention
(``crossA2V(src=audio, tar=visual)`` returns audio + attention), this project keeps the standard
Transformer layout (residual on the query): each stream keeps its own modality and gathers the
other's; the two are the same shape, so the concatenation and the heads are unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from crossmodal_ray.models.layers.positional_attention import PositionalAttentionLayer
from crossmodal_ray.models.synctalknet.config import SyncTalkNetConfig


def key_padding_mask(mask: Tensor) -> Tensor:
    """``nn.MultiheadAttention``'s mask (True = ignore) from a frame mask (True = valid). A track
    with no valid frame (never in real batches) keeps its first key, so that no softmax row is
    all -inf (NaN) and its garbage stays finite."""
    ignore = ~mask
    ignore[:, 0] &= mask.any(dim=1)
    return ignore


class AudioVisualAttention(nn.Module):
    """Cross-attention both ways, then self-attention over the concatenation."""

    def __init__(self, config: SyncTalkNetConfig) -> None:
        super().__init__()
        c = config
        kwargs = dict(
            heads=c.heads,
            dropout=c.dropout,
            feedforward_multiplier=c.feedforward_multiplier,
            positional_encoding=c.positional_encoding,
        )
        self.visual_to_audio = PositionalAttentionLayer(c.embed_dim, **kwargs)
        self.audio_to_visual = PositionalAttentionLayer(c.embed_dim, **kwargs)
        self.self_attention = PositionalAttentionLayer(c.av_dim, **kwargs)

    def layers(self) -> list[PositionalAttentionLayer]:
        return [self.visual_to_audio, self.audio_to_visual, self.self_attention]

    def set_positional_encoding(self, enabled: bool) -> None:
        """Switch the encoding of every attention layer (same weights, the ablation's input)."""
        for layer in self.layers():
            layer.positional_encoding = enabled

    def forward(self, audio: Tensor, visual: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``audio``, ``visual`` [B, T, E], ``mask`` [B, T] (True = valid) -> the audio stream
        [B, T, E], the visual stream [B, T, E] and the fused stream [B, T, 2E]."""
        ignore = key_padding_mask(mask)
        audio_stream = self.visual_to_audio(audio, visual, ignore)
        visual_stream = self.audio_to_visual(visual, audio, ignore)
        both = torch.cat([audio_stream, visual_stream], dim=-1)  # B x T x 2E
        return audio_stream, visual_stream, self.self_attention(both, both, ignore)
