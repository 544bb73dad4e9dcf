"""Symmetric InfoNCE with a soft target distribution per direction (COOLANT's L_soft).

COOLANT (Wang et al., "Cross-modal Contrastive Learning for Multimodal Fake News Detection",
ACM MM 2023, eq. for L_soft), with image features ``u`` [B, d] and text features ``v`` [B, d],
L2-normalised here (like every loss of this package), and ``tau`` the temperature::

    L = u v^T / tau                                                  # B x B_global
    L_soft = 1/2 [ mean_i sum_j -Q_i2t[i, j] log softmax_j(L[i, :])
                 + mean_j sum_i -Q_t2i[j, i] log softmax_i(L[:, j]) ]

``Q_i2t`` [B, B_global]: for each image, a distribution over the texts of the pool; ``Q_t2i``
[B, B_global]: for each text, a distribution over the images of the pool. ``Q_t2i`` is NOT the
transpose of ``Q_i2t`` in general (COOLANT takes both from a softmax of an auxiliary similarity
module's scores, one per direction). With one-hot targets on the diagonal this is CLIP's hard
InfoNCE (:func:`models.losses.info_nce.info_nce`).

Hyper-parameters (paper defaults; the combination happens in the model, not here):
    tau = 0.07: the logit scale is ``1 / tau`` (the authors' code multiplies by ``exp(0.07)``,
        which is not the paper's temperature).
    L = L_itc + lambda * L_soft with lambda = 0.2.

Targets are constants: no gradient flows into them. They may be dense tensors or a
:data:`TargetProvider` that returns any tile of them on demand (for the tiled losses, which
never hold the full logit matrix: :mod:`.tiled_soft_info_nce`). Computation is in float32
(float64 for float64 inputs) with autocast off, as in :mod:`.info_nce`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from crossmodal_ray.models.losses.info_nce import _as_float, _loss_dtype, reduce_per_window

TargetProvider = Callable[[tuple[int, int], tuple[int, int]], Tensor]
"""``provider((r0, r1), (c0, c1))`` -> the targets of rows ``r0:r1`` and columns ``c0:c1``
[r1 - r0, c1 - c0]. It must return the same values every time it is called for a tile (the
tiled losses call it once in the forward and once in the backward)."""

SoftTargets = Tensor | TargetProvider


def target_tile(
    targets: SoftTargets,
    row_range: tuple[int, int],
    col_range: tuple[int, int],
    like: Tensor,
) -> Tensor:
    """Rows ``row_range`` x columns ``col_range`` of ``targets``, detached, in ``like``'s dtype
    and device."""
    (r0, r1), (c0, c1) = row_range, col_range
    tile = targets[r0:r1, c0:c1] if isinstance(targets, Tensor) else targets(row_range, col_range)
    if tuple(tile.shape) != (r1 - r0, c1 - c0):
        raise ValueError(
            f"target tile rows {r0}:{r1}, cols {c0}:{c1} has shape {tuple(tile.shape)}, "
            f"expected {(r1 - r0, c1 - c0)}"
        )
    return tile.detach().to(dtype=like.dtype, device=like.device)


def check_target_shape(targets: SoftTargets, rows: int, cols: int, name: str) -> None:
    """Raise unless dense ``targets`` are [rows, cols] (a provider is checked tile by tile)."""
    if isinstance(targets, Tensor):
        if tuple(targets.shape) != (rows, cols):
            raise ValueError(f"{name} must be [{rows}, {cols}], got {tuple(targets.shape)}")
    elif not callable(targets):
        raise TypeError(f"{name} must be a tensor or a tile provider, got {type(targets)}")


def _soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Per row ``-sum_j t_ij log softmax_j(logits_i)`` [rows]."""
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1)


def soft_info_nce(
    image: Tensor,
    text: Tensor,
    i2t_targets: SoftTargets,
    t2i_targets: SoftTargets,
    temperature: float | Tensor,
    reduction: str = "mean",
) -> Tensor:
    """COOLANT's L_soft (module docstring) on one batch: the pool is the batch itself.

    Args:
        image: [B, d] image features (normalised here).
        text: [B, d] text features; row j is the caption of image row j.
        i2t_targets: [B, B] row i = image i's target distribution over the texts (rows sum
            to 1; not checked, the formula holds for any weights). Constant.
        t2i_targets: [B, B] row j = text j's target distribution over the images. Constant.
        temperature: tau > 0 (float or 0-d tensor that may require grad); COOLANT: 0.07.
        reduction: ``"mean"`` (scalar), ``"sum"`` or ``"none"`` ([B]: the mean of image i's
            and text i's cross-entropy).

    Returns:
        The loss, in float32 (float64 if an input is float64).
    """
    n = image.shape[0]
    check_target_shape(i2t_targets, n, n, "i2t_targets")
    check_target_shape(t2i_targets, n, n, "t2i_targets")
    dtype = _loss_dtype(image, text)
    with torch.autocast(device_type=image.device.type, enabled=False):
        u = F.normalize(image.to(dtype), dim=-1)
        v = F.normalize(text.to(dtype), dim=-1)
        tau = _as_float(temperature, dtype, u.device)
        logits = u @ v.T / tau  # logits: B x B (images x texts)
        q_i2t = target_tile(i2t_targets, (0, n), (0, n), logits)  # B x B
        q_t2i = target_tile(t2i_targets, (0, n), (0, n), logits)  # B x B (texts x images)
        per_window = 0.5 * (
            _soft_cross_entropy(logits, q_i2t) + _soft_cross_entropy(logits.T, q_t2i)
        )  # B
    return reduce_per_window(per_window, reduction)


def local_global_soft_info_nce(
    local_image: Tensor,
    local_text: Tensor,
    global_image: Tensor,
    global_text: Tensor,
    i2t_targets: SoftTargets,
    t2i_targets: SoftTargets,
    temperature: float | Tensor,
) -> Tensor:
    """This rank's share of L_soft over the global pool: local anchors, global candidates.

    ::

        logits_i2t = u_local v_global^T / tau                        # b x N
        logits_t2i = v_local u_global^T / tau                        # b x N
        L_rank = 1/2 [ mean_i CE(logits_i2t[i], Q_i2t[i]) + mean_j CE(logits_t2i[j], Q_t2i[j]) ]

    With equal local batches on W ranks and each rank's targets the rows of its anchors,
    ``mean_r L_rank == soft_info_nce(global_image, global_text, Q_i2t_all, Q_t2i_all)``; with
    :func:`models.losses.distributed.gather_with_grad` and DDP's gradient average, the
    parameters get the full-batch gradient (as for
    :func:`models.losses.info_nce.local_global_info_nce`).

    Args:
        local_image: [b, d] this rank's image features (the local tensor, not a slice of the
            gathered one).
        local_text: [b, d] this rank's text features.
        global_image: [N, d] all ranks' image features, rank-major (``N = W * b``).
        global_text: [N, d] all ranks' text features, rank-major.
        i2t_targets: [b, N] row i = local image i's distribution over the N global texts
            (columns in global order). Constant.
        t2i_targets: [b, N] row j = local text j's distribution over the N global images.
            Constant.
        temperature: tau > 0 (float or 0-d tensor).

    Returns:
        Scalar loss (float32, or float64 for float64 inputs).
    """
    b, n = local_image.shape[0], global_text.shape[0]
    check_target_shape(i2t_targets, b, n, "i2t_targets")
    check_target_shape(t2i_targets, b, global_image.shape[0], "t2i_targets")
    dtype = _loss_dtype(local_image, local_text, global_image, global_text)
    with torch.autocast(device_type=local_image.device.type, enabled=False):
        lu = F.normalize(local_image.to(dtype), dim=-1)
        lv = F.normalize(local_text.to(dtype), dim=-1)
        gu = F.normalize(global_image.to(dtype), dim=-1)
        gv = F.normalize(global_text.to(dtype), dim=-1)
        tau = _as_float(temperature, dtype, lu.device)
        logits_i2t = lu @ gv.T / tau  # logits_i2t: b x N
        logits_t2i = lv @ gu.T / tau  # logits_t2i: b x N
        q_i2t = target_tile(i2t_targets, (0, b), (0, n), logits_i2t)
        q_t2i = target_tile(t2i_targets, (0, b), (0, gu.shape[0]), logits_t2i)
        loss_i2t = _soft_cross_entropy(logits_i2t, q_i2t).mean()
        loss_t2i = _soft_cross_entropy(logits_t2i, q_t2i).mean()
        return 0.5 * (loss_i2t + loss_t2i)
