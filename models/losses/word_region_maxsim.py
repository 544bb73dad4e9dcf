"""Word-region max-sim similarity and its symmetric InfoNCE over the global pool (VG-BERT).

Zhang, Choi, Han, Liu, "Explainable Semantic Space by Grounding Language to Vision with
Cross-Modal Contrastive Learning" (NeurIPS 2021), eq. 1-2: the similarity of image ``I`` (its
``R`` region features ``v_r``) and caption ``C`` (its word features ``w_t``, padding masked)
is the mean over the caption's words of each word's best-matching region::

    S(I, C) = 1/|C| sum_t max_r <w_t, v_r>                                    (eq. 1)
    L = 1/2 [ CE(S(I_i, C_.)/sigma, i) + CE(S(I_., C_i)/sigma, i) ]           (eq. 2)

with sigma = 0.1. The paper uses raw dot products (``normalize=False``); L2-normalised
features (``normalize=True``) are the common alternative.

Memory: the naive S of ``B_i`` images and ``B_c`` captions holds a
``B_i x B_c x W x R`` tensor (B = 4,096, W = 32, R = 196: 105 G floats, ~420 GB). Here S is
computed in tiles of ``tile_size`` images x ``tile_size`` captions, each tile under
:func:`torch.utils.checkpoint.checkpoint`: the forward keeps only the ``B_i x B_c`` matrix,
the backward recomputes one tile at a time (its max indices) and propagates through it, so the
peak extra memory is one tile (``tile^2 W R`` floats) whatever B is. Values and gradients
equal the naive computation (same arg-max, the same sums in another order).

Global pool: :func:`maxsim_local_global_info_nce` scores this rank's images against every
rank's captions and this rank's captions against every rank's images (features gathered with
:func:`models.losses.distributed.gather_with_grad`), so the negatives of each pair are the
whole global batch and, averaged over ranks (DDP), loss and gradient equal the single-process
full-batch ones (as :func:`models.losses.info_nce.local_global_info_nce`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from crossmodal_ray.models.losses.distributed import gather_no_grad, gather_with_grad, get_rank

DEFAULT_TILE = 64


def _similarity_tile(regions: Tensor, words: Tensor, word_weight: Tensor) -> Tensor:
    """S of one tile: regions [i, R, d], words [j, W, d], word_weight [j, W] -> [i, j].

    One matrix product ``(j W) x (i R)`` whose natural layout puts the regions last, so the
    max over regions reduces contiguous memory (no permuted copy of the big tensor).
    """
    n_images, n_regions, dim = regions.shape
    n_captions, n_words, _ = words.shape
    dots = words.reshape(-1, dim) @ regions.reshape(-1, dim).T  # (j W) x (i R)
    best = dots.view(n_captions, n_words, n_images, n_regions).max(dim=-1).values  # j x W x i
    return torch.einsum("jwi,jw->ij", best, word_weight)


def word_weights(word_mask: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """[B, W] weights 1/|C| on the caption's real words, 0 on padding (a caption without words
    gets all-zero weights, i.e. S = 0)."""
    mask = word_mask.to(dtype)
    return mask / mask.sum(dim=-1, keepdim=True).clamp_min(1.0)


def word_region_similarity(
    regions: Tensor,
    words: Tensor,
    word_mask: Tensor,
    normalize: bool = False,
    tile_size: int = DEFAULT_TILE,
) -> Tensor:
    """S(I_i, C_j) of eq. 1 for every image i and caption j, computed tile by tile.

    Args:
        regions: [B_i, R, d] region features of the images.
        words: [B_c, W, d] word features of the captions (padded).
        word_mask: [B_c, W] bool, True on real words.
        normalize: L2-normalise regions and words first (cosine); the paper: False.
        tile_size: images and captions per tile; the peak extra memory is one tile of
            ``tile_size^2 * W * R`` floats (0 or >= B: a single tile, no recomputation).

    Returns:
        [B_i, B_c] similarities (float32 or the inputs' wider dtype).
    """
    if regions.dim() != 3 or words.dim() != 3 or regions.shape[-1] != words.shape[-1]:
        raise ValueError(
            f"regions [B, R, d] and words [B, W, d] must share d, got {tuple(regions.shape)} "
            f"and {tuple(words.shape)}"
        )
    if word_mask.shape != words.shape[:2]:
        raise ValueError(f"word_mask {tuple(word_mask.shape)} != words {tuple(words.shape[:2])}")
    dtype = torch.promote_types(torch.promote_types(regions.dtype, words.dtype), torch.float32)
    regions, words = regions.to(dtype), words.to(dtype)
    if normalize:
        regions, words = F.normalize(regions, dim=-1), F.normalize(words, dim=-1)
    weight = word_weights(word_mask, dtype)
    n_images, n_captions = regions.shape[0], words.shape[0]
    if tile_size <= 0 or (tile_size >= n_images and tile_size >= n_captions):
        return _similarity_tile(regions, words, weight)
    needs_grad = torch.is_grad_enabled() and (regions.requires_grad or words.requires_grad)
    rows = []
    for i in range(0, n_images, tile_size):
        tiles = []
        for j in range(0, n_captions, tile_size):
            args = (regions[i : i + tile_size], words[j : j + tile_size], weight[j : j + tile_size])
            if needs_grad:
                tiles.append(checkpoint(_similarity_tile, *args, use_reentrant=False))
            else:
                tiles.append(_similarity_tile(*args))
        rows.append(torch.cat(tiles, dim=1))
    return torch.cat(rows, dim=0)


def maxsim_local_global_info_nce(
    local_regions: Tensor,
    local_words: Tensor,
    local_word_mask: Tensor,
    global_regions: Tensor,
    global_words: Tensor,
    global_word_mask: Tensor,
    row_offset: int,
    temperature: float | Tensor = 0.1,
    normalize: bool = False,
    tile_size: int = DEFAULT_TILE,
) -> Tensor:
    """This rank's share of the full-batch symmetric max-sim InfoNCE (eq. 2).

    Image i of this rank is pair ``row_offset + i`` of the global batch; its positive is that
    pair's caption, every other caption of the global batch is a negative, and the same for
    captions against images::

        L_rank = 1/2 mean_i [ CE(S(I_i, C_global)/sigma, off + i)
                              + CE(S(I_global, C_i)/sigma, off + i) ]

    With equal local batches, ``mean_r L_rank`` is the single-process loss of the global batch.

    Args:
        local_regions, local_words, local_word_mask: this rank's pairs ([b, R, d], [b, W, d],
            [b, W]); pass the local tensors so their own gradient flows directly.
        global_regions, global_words, global_word_mask: every rank's pairs in rank order
            ([N, R, d], [N, W, d], [N, W]; gathered with grad for the features).
        row_offset: index of this rank's first pair in the global batch (``rank * b``).
        temperature: sigma (0.1 in the paper), float or 0-d tensor.
        normalize, tile_size: see :func:`word_region_similarity`.
    """
    b = local_regions.shape[0]
    if local_words.shape[0] != b or row_offset + b > global_regions.shape[0]:
        raise ValueError("local images and captions must pair up inside the global batch")
    image_rows = word_region_similarity(
        local_regions, global_words, global_word_mask, normalize, tile_size
    )  # b x N
    if global_regions is local_regions and global_words is local_words:
        caption_rows = image_rows.transpose(0, 1)  # one process: the same matrix
    else:
        caption_rows = word_region_similarity(
            global_regions, local_words, local_word_mask, normalize, tile_size
        ).transpose(0, 1)  # b x N
    tau = torch.as_tensor(temperature, dtype=image_rows.dtype, device=image_rows.device)
    targets = torch.arange(row_offset, row_offset + b, device=image_rows.device)
    return 0.5 * (
        F.cross_entropy(image_rows / tau, targets) + F.cross_entropy(caption_rows / tau, targets)
    )


def maxsim_info_nce(
    regions: Tensor,
    words: Tensor,
    word_mask: Tensor,
    temperature: float | Tensor = 0.1,
    normalize: bool = False,
    tile_size: int = DEFAULT_TILE,
) -> Tensor:
    """Eq. 2 on one batch (a single process): every pair against all others."""
    return maxsim_local_global_info_nce(
        regions, words, word_mask, regions, words, word_mask, 0, temperature, normalize, tile_size
    )


class MaxSimContrastiveLoss(nn.Module):
    """Eq. 2 over the global negative pool of every worker, as a module for a model's forward.

    Gathers the region and word features of every rank with gradient (and the word masks
    without), then computes this rank's share (:func:`maxsim_local_global_info_nce`); under
    DDP's gradient average the parameters get the full-batch gradient.
    """

    def __init__(
        self, temperature: float = 0.1, normalize: bool = False, tile_size: int = DEFAULT_TILE
    ) -> None:
        super().__init__()
        self.temperature = temperature
        self.normalize = normalize
        self.tile_size = tile_size

    def forward(self, regions: Tensor, words: Tensor, word_mask: Tensor) -> Tensor:
        global_regions = gather_with_grad(regions)
        global_words = gather_with_grad(words)
        global_mask = gather_no_grad(word_mask)
        return maxsim_local_global_info_nce(
            regions,
            words,
            word_mask,
            global_regions,
            global_words,
            global_mask,
            get_rank() * regions.shape[0],
            self.temperature,
            self.normalize,
            self.tile_size,
        )
