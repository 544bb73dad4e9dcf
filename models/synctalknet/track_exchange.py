"""Contrastive track exchange (Wuerkaixi et al., MLSP 2022, section 3.2).

A speaking face's audio is what it says; the audio of another speaking face, laid over it, is not,
even though both tracks show a moving mouth over voiced audio. Among a batch's tracks that contain
speaking frames, the visual embeddings are permuted by a derangement ``pi`` (no track keeps its
own), and each mismatched pair (audio of track ``i``, visual of track ``pi(i)``), cut to the
frames valid in both, goes through the attention layers and the AV classifier labelled
not-speaking on every frame. Only tracks with speaking frames take part: a silent track's audio
over another face is trivially not-speaking, and the point is to make the model compare speech
with lip motion in time. With fewer than two such tracks there is no derangement and no exchange.

The derangement draws from a ``torch.Generator`` (None: torch's default CPU generator, which the
training loop seeds per rank and stores in its checkpoints), so it is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

DERANGEMENT_TRIES = 100


def derangement(
    n: int, generator: torch.Generator | None = None, max_tries: int = DERANGEMENT_TRIES
) -> Tensor:
    """A random permutation of ``0..n-1`` with no fixed point (``n >= 2``), int64 on the CPU.

    Rejection sampling of uniform permutations gives a uniform derangement; a permutation is one
    with probability ~1/e, so 100 tries fail with probability ~1e-20. After ``max_tries`` it falls
    back to a random n-cycle (Sattolo), which is a derangement by construction."""
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 elements, got {n}")
    identity = torch.arange(n)
    for _ in range(max_tries):
        permutation = torch.randperm(n, generator=generator)
        if not bool((permutation == identity).any()):
            return permutation
    order = torch.randperm(n, generator=generator)
    permutation = torch.empty_like(order)
    permutation[order] = order.roll(-1)  # order[k] -> order[k + 1]: one cycle through all n
    return permutation


def speaking_tracks(labels: Tensor, mask: Tensor) -> Tensor:
    """Indices of the tracks with at least one valid frame labelled speaking (1): [S]."""
    return torch.nonzero(((labels == 1) & mask).any(dim=1)).flatten()


@dataclass
class ExchangePairs:
    """The mismatched pairs of one batch (P = number of speaking tracks).

    Attributes:
        audio_index: [P] the track whose audio embeddings each pair uses.
        visual_index: [P] the track whose visual embeddings it uses (never ``audio_index``).
        mask: [P, T] frames valid in both tracks (the common valid length).
    """

    audio_index: Tensor
    visual_index: Tensor
    mask: Tensor

    def __len__(self) -> int:
        return int(self.audio_index.numel())


def exchange_pairs(
    labels: Tensor, mask: Tensor, generator: torch.Generator | None = None
) -> ExchangePairs | None:
    """The pairs of :func:`derangement` over the speaking tracks; None with fewer than two."""
    tracks = speaking_tracks(labels, mask)
    if tracks.numel() < 2:
        return None
    permutation = derangement(int(tracks.numel()), generator).to(tracks.device)
    visual_index = tracks[permutation]
    return ExchangePairs(tracks, visual_index, mask[tracks] & mask[visual_index])
