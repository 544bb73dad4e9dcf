"""Symmetric InfoNCE (CLIP's loss) on L2-normalised features, full-batch and local-vs-global.

CLIP (Radford et al., 2021, Fig. 3 pseudo-code), with ``z = x / ||x||``::

    logits = q k^T / tau                                            # B x B
    L = 1/2 [ CE(logits, y) + CE(logits^T, y) ]                     # y_i = i (the diagonal)

MBSL (Guo, Xu, Wu, Wang) applies this between the embeddings of two channel groups of the same
window (its inter-group contrastive loss). Every function computes in float32 or float64 (never
bf16/fp16: a softmax over thousands of negatives needs the mantissa), with autocast disabled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from crossmodal_ray.models.losses.negative_exclusion import NegativeExclusion


def _loss_dtype(*tensors: Tensor) -> torch.dtype:
    """float64 if any input is float64, else float32 (upcasts bf16/fp16)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def _as_float(temperature: float | Tensor, dtype: torch.dtype, device: torch.device) -> Tensor:
    if isinstance(temperature, Tensor):
        return temperature.to(dtype=dtype, device=device)
    return torch.tensor(float(temperature), dtype=dtype, device=device)


def info_nce(
    query: Tensor,
    key: Tensor,
    temperature: float | Tensor,
    soft_targets: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Symmetric InfoNCE between ``query`` [B, E] and ``key`` [B, E].

    Args:
        query: features of view/group A; row i is the positive of ``key`` row i.
        key: features of view/group B.
        temperature: tau > 0 (a float, or a 0-d tensor that may require grad).
        soft_targets: optional [B, B] target distribution, rows summing to 1 (soft
            cross-entropy ``-sum_j t_ij log p_ij``); the key->query direction uses
            ``soft_targets.T``. Default: one-hot diagonal.
        reduction: ``"mean"`` (scalar), ``"sum"`` or ``"none"`` (per-window [B]: the mean of
            row i's and column i's cross-entropy).

    Returns:
        The loss, in float32 (float64 if an input is float64).
    """
    dtype = _loss_dtype(query, key)
    with torch.autocast(device_type=query.device.type, enabled=False):
        q = F.normalize(query.to(dtype), dim=-1)
        k = F.normalize(key.to(dtype), dim=-1)
        tau = _as_float(temperature, dtype, q.device)
        logits = q @ k.T / tau  # logits: B x B
        if soft_targets is None:
            targets = torch.arange(q.shape[0], device=q.device)
            loss_qk = F.cross_entropy(logits, targets, reduction="none")  # B
            loss_kq = F.cross_entropy(logits.T, targets, reduction="none")  # B
        else:
            t = soft_targets.to(dtype)
            loss_qk = -(t * F.log_softmax(logits, dim=1)).sum(dim=1)  # B
            loss_kq = -(t.T * F.log_softmax(logits.T, dim=1)).sum(dim=1)  # B
        per_window = 0.5 * (loss_qk + loss_kq)
    return reduce_per_window(per_window, reduction)


def check_reduction(reduction: str) -> None:
    """Raise for anything but ``"mean"``, ``"sum"`` or ``"none"``."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def reduce_per_window(per_window: Tensor, reduction: str) -> Tensor:
    """The per-window losses [B] as a mean, a sum, or as they are (``"none"``)."""
    check_reduction(reduction)
    if reduction == "mean":
        return per_window.mean()
    if reduction == "sum":
        return per_window.sum()
    return per_window


def local_global_info_nce(
    local_q: Tensor,
    local_k: Tensor,
    global_q: Tensor,
    global_k: Tensor,
    row_offset: int,
    temperature: float | Tensor,
    local_valid: Tensor | None = None,
    global_valid: Tensor | None = None,
    exclusion: NegativeExclusion | None = None,
) -> Tensor:
    """This rank's share of the full-batch symmetric InfoNCE: local rows, global columns.

    Row i of this rank is window ``row_offset + i`` of the global batch; its positive is column
    ``row_offset + i``, every other global column is a negative, in both directions::

        logits_qk = q_local k_global^T / tau                        # b x N
        logits_kq = k_local q_global^T / tau                        # b x N
        L_rank = 1/2 mean_i [ CE(logits_qk[i], off + i) + CE(logits_kq[i], off + i) ]

    With equal local batches on W ranks, ``mean_r L_rank == info_nce(global_q, global_k)``
    (row i of ``k q^T`` is column i of ``q k^T``), so DDP's gradient average plus
    :func:`models.losses.distributed.gather_with_grad` gives the full-batch gradient.

    Args:
        local_q: [b, E] this rank's query features (use the local tensor, not a slice of the
            gathered one, so its own gradient flows directly).
        local_k: [b, E] this rank's key features.
        global_q: [N, E] all ranks' query features (``N = W * b``).
        global_k: [N, E] all ranks' key features.
        row_offset: index of this rank's first row in the global batch (``rank * b``).
        temperature: tau > 0 (float or 0-d tensor).
        local_valid: optional bool [b]: rows whose windows really have both views (e.g. the
            record has the group's channels). Invalid rows add no loss.
        global_valid: optional bool [N] (required with ``local_valid``): invalid columns are
            removed from the negatives. The sum over valid rows is divided by
            ``b * N_valid / N`` so that the mean over ranks is still the global mean over
            valid windows. Returns 0 (with a graph) when no window is valid.
        exclusion: optional columns that are no negatives of a row (its own sample, windows of
            the same recording that overlap it: :mod:`.negative_exclusion`); the same windows
            are excluded in both directions. The target column always stays.

    Returns:
        Scalar loss (float32, or float64 for float64 inputs).
    """
    dtype = _loss_dtype(local_q, local_k, global_q, global_k)
    with torch.autocast(device_type=local_q.device.type, enabled=False):
        lq = F.normalize(local_q.to(dtype), dim=-1)
        lk = F.normalize(local_k.to(dtype), dim=-1)
        gq = F.normalize(global_q.to(dtype), dim=-1)
        gk = F.normalize(global_k.to(dtype), dim=-1)
        tau = _as_float(temperature, dtype, lq.device)
        logits_qk = lq @ gk.T / tau  # logits_qk: b x N
        logits_kq = lk @ gq.T / tau  # logits_kq: b x N
        b, n = logits_qk.shape
        targets = torch.arange(b, device=lq.device) + row_offset
        if exclusion is not None:
            excluded = exclusion.full().to(lq.device)  # b x N
            logits_qk = logits_qk.masked_fill(excluded, float("-inf"))
            logits_kq = logits_kq.masked_fill(excluded, float("-inf"))
        if local_valid is None:
            loss_qk = F.cross_entropy(logits_qk, targets)
            loss_kq = F.cross_entropy(logits_kq, targets)
            return 0.5 * (loss_qk + loss_kq)
        if global_valid is None:
            raise ValueError("global_valid is required together with local_valid")
        col_invalid = ~global_valid.to(torch.bool)[None, :]  # 1 x N
        logits_qk = logits_qk.masked_fill(col_invalid, float("-inf"))
        logits_kq = logits_kq.masked_fill(col_invalid, float("-inf"))
        row_valid = local_valid.to(torch.bool)
        # Invalid rows may have only -inf logits; give them a dummy target-free zero loss.
        safe_qk = torch.where(row_valid[:, None], logits_qk, torch.zeros_like(logits_qk))
        safe_kq = torch.where(row_valid[:, None], logits_kq, torch.zeros_like(logits_kq))
        per_row = 0.5 * (
            F.cross_entropy(safe_qk, targets, reduction="none")
            + F.cross_entropy(safe_kq, targets, reduction="none")
        )  # b
        per_row = torch.where(row_valid, per_row, torch.zeros_like(per_row))
        n_valid = int(global_valid.sum())
        if n_valid == 0:
            return per_row.sum() * 0.0
        return per_row.sum() * (n / (b * n_valid))
