"""Symmetric InfoNCE with a MoCo queue of extra negatives: local rows, global batch + queue columns.

For the pair of groups (a, b), with ``q`` = group a and ``k`` = group b (L2-normalised), this
rank's row i (window ``off + i`` of the global batch of ``N`` windows) scores against the
``N`` global windows of the other group plus that group's ``K`` queued embeddings (MoCo, He et
al. 2020, Algorithm 1, with the in-batch negatives of CLIP added)::

    logits_qk = q_local [k_global ; queue_k]^T / tau             # b x (N + K_k)
    logits_kq = k_local [q_global ; queue_q]^T / tau             # b x (N + K_q)
    L_rank = 1/2 mean_i [ CE(logits_qk[i], off + i) + CE(logits_kq[i], off + i) ]

The queue is detached (no gradient reaches it: MoCo's queue holds constants); the global batch
carries gradient through :func:`models.losses.distributed.gather_with_grad`, so under DDP the mean over
ranks has the single-process gradient of the full-batch loss with the same queue.
"""

from __future__ import annotations

import torch
from torch import Tensor

from crossmodal_ray.models.losses.info_nce import _loss_dtype, local_global_info_nce
from crossmodal_ray.models.losses.negative_exclusion import NegativeExclusion
from crossmodal_ray.models.losses.tiled_info_nce import tiled_local_global_info_nce


def _column_loss(tile_size: int | None):
    """The plain or the tiled local-vs-global loss, with its keyword arguments."""
    if tile_size is None:
        return local_global_info_nce, {}
    return tiled_local_global_info_nce, {"tile_size": tile_size}


def queued_local_global_info_nce(
    local_q: Tensor,
    local_k: Tensor,
    global_q: Tensor,
    global_k: Tensor,
    row_offset: int,
    temperature: float | Tensor,
    queue_q: Tensor,
    queue_k: Tensor,
    local_valid: Tensor | None = None,
    global_valid: Tensor | None = None,
    tile_size: int | None = None,
    exclusion: NegativeExclusion | None = None,
) -> Tensor:
    """This rank's share of the symmetric InfoNCE with the global batch and a queue as negatives.

    Args:
        local_q: [b, E] this rank's embeddings of group a (query rows of direction a -> b).
        local_k: [b, E] this rank's embeddings of group b (rows of direction b -> a).
        global_q: [N, E] the global batch of group a (gathered with gradient).
        global_k: [N, E] the global batch of group b.
        row_offset: index of this rank's first row in the global batch (``rank * b``).
        temperature: tau > 0 (float or 0-d tensor; MoCo v1 0.07, v2 0.2, MBSL's default 0.1).
        queue_q: [K_q, E] queued embeddings of group a: negatives of direction b -> a.
        queue_k: [K_k, E] queued embeddings of group b: negatives of direction a -> b.
            Both are detached here; they may be empty ([0, E]).
        local_valid: optional bool [b] (rows whose window has both groups; others add no loss).
        global_valid: optional bool [N] (required with ``local_valid``): invalid global columns
            are no negatives. Every queued embedding counts. As in
            :func:`~models.losses.info_nce.local_global_info_nce` the sum over valid rows is
            divided by ``b * N_valid / N``, so the mean over ranks is the mean over valid
            windows of the global batch.
        tile_size: None computes the b x (N + K) logits at once; an int uses the exact tiled
            loss (:mod:`models.losses.tiled_info_nce`) with that many columns per tile.
        exclusion: optional pairs that are no negatives, over the rows [b] and the columns
            ``[global batch ; queue_k]`` (``N + K``): the anchor's own queued key (same sample)
            and windows of its recording that overlap it (:mod:`.negative_exclusion`). Both
            directions use it (both queues hold the same windows, slot for slot).

    Returns:
        Scalar loss (float32, or float64 for float64 inputs); 0 with a graph when no row is
        valid anywhere.
    """
    if local_valid is not None and global_valid is None:
        raise ValueError("global_valid is required together with local_valid")
    loss_fn, kwargs = _column_loss(tile_size)
    dtype = _loss_dtype(local_q, local_k, global_q, global_k)
    b, n = local_q.shape[0], global_q.shape[0]
    # Every rank's loss must reach the gathered batch so that every rank runs the gather's
    # backward collective, even when none of its own rows is valid.
    touch_global = (global_q.sum() + global_k.sum()).to(dtype) * 0.0
    scale = 1.0
    if local_valid is not None:
        # Drop invalid rows and columns physically: rank r's valid rows stay contiguous among
        # the valid global columns, starting at the number of valid columns before its offset.
        lv, gv = local_valid.to(torch.bool), global_valid.to(torch.bool)
        b_valid, n_valid = int(lv.sum()), int(gv.sum())
        if b_valid == 0 or n_valid == 0:
            return (local_q.sum() + local_k.sum()).to(dtype) * 0.0 + touch_global
        new_offset = int(gv[:row_offset].sum())
        if exclusion is not None:
            queued = torch.ones(queue_k.shape[0], dtype=torch.bool, device=gv.device)
            exclusion = exclusion.select(lv, torch.cat([gv, queued]), new_offset)
        row_offset = new_offset
        local_q, local_k = local_q[lv], local_k[lv]
        global_q, global_k = global_q[gv], global_k[gv]
        scale = b_valid * n / (b * n_valid)  # mean over b_valid rows -> sum / (b * N_valid / N)
    # Columns: the global batch (with gradient), then the queue (constants).
    cols_k = torch.cat([global_k.to(dtype), queue_k.detach().to(dtype)])  # (N + K_k) x E
    cols_q = torch.cat([global_q.to(dtype), queue_q.detach().to(dtype)])  # (N + K_q) x E
    loss = loss_fn(
        local_q, local_k, cols_q, cols_k, row_offset, temperature, exclusion=exclusion, **kwargs
    )
    return loss * scale + touch_global
