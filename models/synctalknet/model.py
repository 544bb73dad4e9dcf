"""SyncTalkNet (Wuerkaixi, Zhang, Duan, Zhang, MLSP 2022): TalkNet (Tao et al., ACM MM 2021) with a
positional encoding on both inputs of every attention layer and contrastive track exchange.

For a padded batch of face tracks (``mask`` [B, T] True on valid frames)::

    a = AudioEncoder(mfcc [B, 4T, 13])                 # B x T x E (4 audio frames -> 1)
    v = VisualEncoder(faces [B, T, H, W])              # B x T x E
    training, track exchange on, >= 2 speaking tracks:
        pi = derangement of the speaking tracks S
        a, v, mask += a[S], v[pi(S)], mask[S] & mask[pi(S)]          # P mismatched pairs
    a', v', av = AudioVisualAttention(a, v, mask)      # cross both ways, self on [a'; v']
    AV logits = W_av av (2E -> 2);  audio = W_a a', visual = W_v v' (real tracks only)
    loss = CE(AV) + exchange_weight * CE(AV of the pairs, 0) + 0.4 (CE(audio) + CE(visual))

The exchanged pairs share the real tracks' attention call (concatenated along the batch): the
attention is per track, so the pairs change nothing on the real tracks' outputs.

DDP: the exchange branch has no parameter of its own (it reuses the attention layers and the AV
head), so every parameter gets a gradient every step whether or not a rank exchanges: no
``find_unused_parameters``. No collective runs in the model, so ranks with different track
lengths or exchange counts never wait on each other.

Padding: a track's outputs do not depend on how far it is padded, in eval (to float rounding)
and, with dropout 0, in training: the per-frame visual trunk runs on valid frames only, every
temporal BatchNorm is masked (:mod:`.masked_norm`), padded frames are zeros at every temporal
convolution, and padded keys are masked in every attention layer.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from crossmodal_ray.models.synctalknet.audio_encoder import AudioEncoder
from crossmodal_ray.models.synctalknet.config import NUM_CLASSES, SyncTalkNetConfig
from crossmodal_ray.models.synctalknet.cross_attention import AudioVisualAttention
from crossmodal_ray.models.synctalknet.losses import synctalknet_loss
from crossmodal_ray.models.synctalknet.track_exchange import ExchangePairs, exchange_pairs
from crossmodal_ray.models.synctalknet.visual_encoder import VisualEncoder


class SyncTalkNet(nn.Module):
    """See the module docstring.

    Args:
        config: Sizes and switches (default: ``SyncTalkNetConfig.paper()``).

    Attributes:
        exchange_generator: Generator of the track-exchange derangements when ``forward`` gets
            none (None: torch's default CPU generator).
    """

    def __init__(self, config: SyncTalkNetConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else SyncTalkNetConfig.paper()
        c = self.config
        self.audio_encoder = AudioEncoder(c)
        self.visual_encoder = VisualEncoder(c)
        self.attention = AudioVisualAttention(c)
        self.av_head = nn.Linear(c.av_dim, NUM_CLASSES)
        self.audio_head = nn.Linear(c.embed_dim, NUM_CLASSES)
        self.visual_head = nn.Linear(c.embed_dim, NUM_CLASSES)
        self.exchange_generator: torch.Generator | None = None

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def set_positional_encoding(self, enabled: bool) -> None:
        """Switch the encoding of every attention layer (the weights stay)."""
        self.config.positional_encoding = enabled
        self.attention.set_positional_encoding(enabled)

    def forward(
        self,
        visual: Tensor,
        audio: Tensor,
        mask: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """Per-frame speaking logits and, with ``labels``, the losses.

        Args:
            visual: Grayscale face crops [B, T, H, W], pixel values 0-255 (uint8, or float on
                the same scale), ``H = W = config.frame_size``.
            audio: MFCC [B, 4T, mfcc_dim] (100 Hz, four audio frames per video frame).
            mask: [B, T] True on valid frames (a prefix of each track; padding at the end).
            labels: [B, T] 1 = speaking, 0 = not; ignored where ``mask`` is False or < 0.
            generator: Draws the track-exchange derangement (None: ``exchange_generator``).

        Returns:
            ``logits`` [B, T, 2] (AV head), ``probabilities`` [B, T, 2] (softmax),
            ``speaking_probability`` [B, T] (class 1), ``audio_logits`` and ``visual_logits``
            [B, T, 2] (auxiliary heads), all zero on padded frames; with ``labels`` also
            ``loss`` (to backpropagate), ``av_loss``, ``audio_loss``, ``visual_loss``,
            ``exchange_loss`` (0 when skipped) and ``exchange_pairs`` (P, 0 when skipped).
        """
        mask = mask.bool()
        b = mask.shape[0]
        audio_emb = self.audio_encoder(audio, mask)  # B x T x E
        visual_emb = self.visual_encoder(visual, mask)  # B x T x E
        pairs: ExchangePairs | None = None
        if labels is not None and self.training and self.config.track_exchange:
            generator = generator if generator is not None else self.exchange_generator
            pairs = exchange_pairs(labels, mask, generator)
        attn_mask = mask
        if pairs is not None:  # (B + P) x T: the real tracks, then the mismatched pairs
            audio_emb = torch.cat([audio_emb, audio_emb[pairs.audio_index]])
            visual_emb = torch.cat([visual_emb, visual_emb[pairs.visual_index]])
            attn_mask = torch.cat([mask, pairs.mask])
        audio_stream, visual_stream, fused = self.attention(audio_emb, visual_emb, attn_mask)
        av_logits = self.av_head(fused)  # (B + P) x T x 2
        audio_logits = self.audio_head(audio_stream[:b])
        visual_logits = self.visual_head(visual_stream[:b])

        keep = mask[..., None].to(av_logits.dtype)
        probabilities = av_logits[:b].softmax(dim=-1) * keep
        out = {
            "logits": av_logits[:b] * keep,
            "probabilities": probabilities,
            "speaking_probability": probabilities[..., 1],
            "audio_logits": audio_logits * keep,
            "visual_logits": visual_logits * keep,
        }
        if labels is None:
            return out
        out.update(
            synctalknet_loss(
                av_logits[:b],
                audio_logits,
                visual_logits,
                labels,
                mask,
                exchange_logits=av_logits[b:] if pairs is not None else None,
                exchange_mask=pairs.mask if pairs is not None else None,
                aux_weight=self.config.aux_loss_weight,
                exchange_weight=self.config.exchange_weight,
            )
        )
        out["exchange_pairs"] = torch.tensor(
            len(pairs) if pairs is not None else 0, device=mask.device
        )
        return out

    @torch.no_grad()
    def predict(self, visual: Tensor, audio: Tensor, mask: Tensor) -> Tensor:
        """Speaking probability per frame [B, T] (0 on padded frames), in eval mode (running
        BatchNorm statistics, no dropout); the module's mode is restored afterwards."""
        was_training = self.training
        self.eval()
        try:
            return self.forward(visual, audio, mask)["speaking_probability"]
        finally:
            self.train(was_training)
