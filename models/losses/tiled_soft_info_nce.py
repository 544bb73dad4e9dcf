"""COOLANT's L_soft in tiles: the value and gradients of :mod:`.soft_targets`, no B x B logits.

The loss (COOLANT, Wang et al., ACM MM 2023, eq. for L_soft; see
:func:`models.losses.soft_targets.soft_info_nce`), with ``s_ij = u_i . v_j / tau`` on normalised
features, the image->text targets ``A_ij = Q_i2t[i, j]`` and the text->image targets read
column-wise ``C_ij = Q_t2i[j, i]``, ``rho_i = sum_j A_ij``, ``kappa_j = sum_i C_ij``::

    r_i = LSE_j s_ij          c_j = LSE_i s_ij                      # row / column log-sum-exp
    l_i = 1/2 [ rho_i r_i - sum_j A_ij s_ij  +  kappa_i c_i - sum_j C_ji s_ji ]
    dL/ds_ij = a_i (rho_i exp(s_ij - r_i) - A_ij) + b_j (kappa_j exp(s_ij - c_j) - C_ij)

with ``a_i = 1/2 dL/dl_i`` and ``b_j = 1/2 dL/dl_j``. This is the machinery of
:mod:`.tiled_info_nce` (streaming log-sum-exp over ``t x t`` tiles, only the inputs, the LSE and
target-mass vectors [B] and tau saved for the backward, each tile recomputed once there) with
one target matrix per direction instead of one shared matrix. The logits are never materialised
in full: peak extra memory is ``O(t^2 + B d)`` floats (two t x t buffers, plus a converted target
tile when the targets are not already in the loss dtype or come from a provider).
The targets are the caller's: dense [B, B] tensors are read tile by tile (nothing of that size
is allocated here), and a :data:`models.losses.soft_targets.TargetProvider` can produce each
tile on demand so that no B x B array exists at all.

The local-global form (this rank's b anchors against the N gathered candidates) has a different
logit matrix per direction (``u_local v_global^T`` and ``v_local u_global^T``), so it streams
each direction's b x N logits separately (one row cross-entropy per direction).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from crossmodal_ray.models.losses.info_nce import (
    _as_float,
    _loss_dtype,
    check_reduction,
    reduce_per_window,
)
from crossmodal_ray.models.losses.soft_targets import SoftTargets, check_target_shape, target_tile
from crossmodal_ray.models.losses.tiled_info_nce import (
    DEFAULT_TILE,
    _exp_weights,
    _ranges,
    _tile_buffer,
)


def _split(targets: SoftTargets) -> tuple[Tensor | None, SoftTargets | None]:
    """(dense tensor to save for backward, provider to keep on ctx): one of them is None."""
    if isinstance(targets, Tensor):
        return targets.detach(), None
    return None, targets


class _SymmetricTiledSoftInfoNCE(torch.autograd.Function):
    """Per-window L_soft [B] of normalised ``u``, ``v`` [B, d]; tiles of ``t x t``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, u: Tensor, v: Tensor, tau: Tensor, i2t: SoftTargets, t2i: SoftTargets, tile: int
    ) -> Tensor:
        n = u.shape[0]
        us = u / tau  # B x d: s = us v^T
        lse_row = torch.full((n,), float("-inf"), dtype=u.dtype, device=u.device)  # B
        lse_col = torch.full_like(lse_row, float("-inf"))  # B
        target_row = torch.zeros_like(lse_row)  # B: sum_j A_ij s_ij
        target_col = torch.zeros_like(lse_row)  # B: sum_i C_ij s_ij (indexed by column j)
        rho = torch.zeros_like(lse_row)  # B: sum_j A_ij
        kappa = torch.zeros_like(lse_row)  # B: sum_i C_ij
        s_flat = torch.empty(min(tile, n) ** 2, dtype=u.dtype, device=u.device)
        e_flat = torch.empty_like(s_flat)
        for r0, r1 in _ranges(n, tile):
            for c0, c1 in _ranges(n, tile):
                s = _tile_buffer(s_flat, r1 - r0, c1 - c0)  # s: tr x tc
                e = _tile_buffer(e_flat, r1 - r0, c1 - c0)  # e: tr x tc
                torch.mm(us[r0:r1], v[c0:c1].t(), out=s)
                a = target_tile(i2t, (r0, r1), (c0, c1), s)  # A: tr x tc
                c = target_tile(t2i, (c0, c1), (r0, r1), s).t()  # C: tr x tc
                rho[r0:r1] += a.sum(1)
                kappa[c0:c1] += c.sum(0)
                target_row[r0:r1] += torch.mul(a, s, out=e).sum(1)
                target_col[c0:c1] += torch.mul(c, s, out=e).sum(0)
                m_row = s.amax(1)  # tr
                m_col = s.amax(0)  # tc
                torch.sub(s, m_row[:, None], out=e).exp_()
                part_row = e.sum(1).log_().add_(m_row)
                s.sub_(m_col[None, :]).exp_()
                part_col = s.sum(0).log_().add_(m_col)
                torch.logaddexp(lse_row[r0:r1], part_row, out=lse_row[r0:r1])
                torch.logaddexp(lse_col[c0:c1], part_col, out=lse_col[c0:c1])
        per_window = 0.5 * ((rho * lse_row - target_row) + (kappa * lse_col - target_col))
        (i2t_dense, ctx.i2t_provider), (t2i_dense, ctx.t2i_provider) = _split(i2t), _split(t2i)
        ctx.save_for_backward(u, v, tau, lse_row, lse_col, rho, kappa, i2t_dense, t2i_dense)
        ctx.tile = tile
        return per_window

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        u, v, tau, lse_row, lse_col, rho, kappa, i2t_dense, t2i_dense = ctx.saved_tensors
        i2t = i2t_dense if i2t_dense is not None else ctx.i2t_provider
        t2i = t2i_dense if t2i_dense is not None else ctx.t2i_provider
        tile, n = ctx.tile, u.shape[0]
        with torch.autocast(device_type=u.device.type, enabled=False):
            us = u / tau
            a = 0.5 * grad.to(u.dtype)  # B: weight of image i's i2t cross-entropy
            b = a  # B: weight of text j's t2i cross-entropy
            shift_row, mul_row = _exp_weights(lse_row, a * rho)
            shift_col, mul_col = _exp_weights(lse_col, b * kappa)
            grad_u = torch.zeros_like(u)  # accumulates G v (times tau below)
            grad_v = torch.zeros_like(v)  # accumulates G^T u / tau
            s_flat = torch.empty(min(tile, n) ** 2, dtype=u.dtype, device=u.device)
            e_flat = torch.empty_like(s_flat)
            for r0, r1 in _ranges(n, tile):
                for c0, c1 in _ranges(n, tile):
                    s = _tile_buffer(s_flat, r1 - r0, c1 - c0)  # s: tr x tc
                    e = _tile_buffer(e_flat, r1 - r0, c1 - c0)  # e: tr x tc
                    torch.mm(us[r0:r1], v[c0:c1].t(), out=s)
                    torch.sub(s, shift_row[r0:r1, None], out=e).exp_()  # a_i rho_i p_ij
                    if mul_row is not None:
                        e.mul_(mul_row[r0:r1, None])
                    s.sub_(shift_col[None, c0:c1]).exp_()  # b_j kappa_j p'_ij
                    if mul_col is not None:
                        s.mul_(mul_col[None, c0:c1])
                    s.add_(e)  # G without the targets
                    s.sub_(
                        torch.mul(target_tile(i2t, (r0, r1), (c0, c1), s), a[r0:r1, None], out=e)
                    )
                    c = target_tile(t2i, (c0, c1), (r0, r1), s).t()
                    s.sub_(torch.mul(c, b[None, c0:c1], out=e))  # G = dL/ds on this tile
                    grad_u[r0:r1].addmm_(s, v[c0:c1])
                    grad_v[c0:c1].addmm_(s.t(), us[r0:r1])
            grad_u = grad_u / tau
        grad_tau = None
        if ctx.needs_input_grad[2]:
            grad_tau = -(u * grad_u).sum() / tau  # -sum_ij G_ij s_ij / tau
        return grad_u, grad_v, grad_tau, None, None, None


class _TiledSoftRowCrossEntropy(torch.autograd.Function):
    """Per-row soft cross-entropy [b] of ``s = rows cols^T / tau`` ([b, N]) against ``targets``
    [b, N]: ``l_i = rho_i LSE_j s_ij - sum_j T_ij s_ij``, ``rho_i = sum_j T_ij``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, rows: Tensor, cols: Tensor, tau: Tensor, targets: SoftTargets, tile: int
    ) -> Tensor:
        b, n = rows.shape[0], cols.shape[0]
        rs = rows / tau  # b x d
        lse = torch.full((b,), float("-inf"), dtype=rows.dtype, device=rows.device)  # b
        target = torch.zeros_like(lse)  # b: sum_j T_ij s_ij
        rho = torch.zeros_like(lse)  # b: sum_j T_ij
        s_flat = torch.empty(min(tile, b) * min(tile, n), dtype=rows.dtype, device=rows.device)
        e_flat = torch.empty_like(s_flat)
        for r0, r1 in _ranges(b, tile):
            for c0, c1 in _ranges(n, tile):
                s = _tile_buffer(s_flat, r1 - r0, c1 - c0)  # s: tr x tc
                e = _tile_buffer(e_flat, r1 - r0, c1 - c0)  # e: tr x tc
                torch.mm(rs[r0:r1], cols[c0:c1].t(), out=s)
                t = target_tile(targets, (r0, r1), (c0, c1), s)  # tr x tc
                rho[r0:r1] += t.sum(1)
                target[r0:r1] += torch.mul(t, s, out=e).sum(1)
                m = s.amax(1)  # tr
                part = s.sub_(m[:, None]).exp_().sum(1).log_().add_(m)
                torch.logaddexp(lse[r0:r1], part, out=lse[r0:r1])
        dense, ctx.provider = _split(targets)
        ctx.save_for_backward(rows, cols, tau, lse, rho, dense)
        ctx.tile = tile
        return rho * lse - target

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        rows, cols, tau, lse, rho, dense = ctx.saved_tensors
        targets = dense if dense is not None else ctx.provider
        tile, b, n = ctx.tile, rows.shape[0], cols.shape[0]
        with torch.autocast(device_type=rows.device.type, enabled=False):
            rs = rows / tau
            g = grad.to(rows.dtype)  # b
            shift, mul = _exp_weights(lse, g * rho)
            grad_rows = torch.zeros_like(rows)  # accumulates G cols (times tau below)
            grad_cols = torch.zeros_like(cols)  # accumulates G^T rows / tau
            s_flat = torch.empty(min(tile, b) * min(tile, n), dtype=rows.dtype, device=rows.device)
            e_flat = torch.empty_like(s_flat)
            for r0, r1 in _ranges(b, tile):
                for c0, c1 in _ranges(n, tile):
                    s = _tile_buffer(s_flat, r1 - r0, c1 - c0)  # s: tr x tc
                    e = _tile_buffer(e_flat, r1 - r0, c1 - c0)  # e: tr x tc
                    torch.mm(rs[r0:r1], cols[c0:c1].t(), out=s)
                    s.sub_(shift[r0:r1, None]).exp_()  # g_i rho_i p_ij
                    if mul is not None:
                        s.mul_(mul[r0:r1, None])
                    t = target_tile(targets, (r0, r1), (c0, c1), s)
                    s.sub_(torch.mul(t, g[r0:r1, None], out=e))  # G = g_i (rho_i p_ij - T_ij)
                    grad_rows[r0:r1].addmm_(s, cols[c0:c1])
                    grad_cols[c0:c1].addmm_(s.t(), rs[r0:r1])
            grad_rows = grad_rows / tau
        grad_tau = None
        if ctx.needs_input_grad[2]:
            grad_tau = -(rows * grad_rows).sum() / tau
        return grad_rows, grad_cols, grad_tau, None, None


def _check_tile(tile_size: int) -> int:
    if tile_size < 1:
        raise ValueError(f"tile_size must be >= 1, got {tile_size}")
    return int(tile_size)


def tiled_soft_info_nce(
    image: Tensor,
    text: Tensor,
    i2t_targets: SoftTargets,
    t2i_targets: SoftTargets,
    temperature: float | Tensor,
    tile_size: int = DEFAULT_TILE,
    reduction: str = "mean",
) -> Tensor:
    """COOLANT's L_soft between ``image`` [B, d] and ``text`` [B, d], computed in tiles.

    Same arguments, value and gradients as :func:`models.losses.soft_targets.soft_info_nce`;
    the B x B logits are never materialised in full (peak extra memory
    ``O(tile_size^2 + B d)``).

    Args:
        image: [B, d] image features (normalised here).
        text: [B, d] text features; row j is the caption of image row j.
        i2t_targets: [B, B] image->text target distributions (row i over the texts), or a
            :data:`~models.losses.soft_targets.TargetProvider` of its tiles. Constant.
        t2i_targets: [B, B] text->image target distributions (row j over the images), or a
            provider of its tiles (asked for rows = texts, columns = images). Constant.
        temperature: tau > 0 (float or 0-d tensor that may require grad); COOLANT: 0.07.
        tile_size: rows and columns per tile (default 2048).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per-window [B]).

    Returns:
        The loss, in float32 (float64 if an input is float64).
    """
    tile = _check_tile(tile_size)
    check_reduction(reduction)
    n = image.shape[0]
    check_target_shape(i2t_targets, n, n, "i2t_targets")
    check_target_shape(t2i_targets, n, n, "t2i_targets")
    dtype = _loss_dtype(image, text)
    with torch.autocast(device_type=image.device.type, enabled=False):
        u = F.normalize(image.to(dtype), dim=-1)
        v = F.normalize(text.to(dtype), dim=-1)
        tau = _as_float(temperature, dtype, u.device)
        per_window = _SymmetricTiledSoftInfoNCE.apply(u, v, tau, i2t_targets, t2i_targets, tile)
    return reduce_per_window(per_window, reduction)


def tiled_local_global_soft_info_nce(
    local_image: Tensor,
    local_text: Tensor,
    global_image: Tensor,
    global_text: Tensor,
    i2t_targets: SoftTargets,
    t2i_targets: SoftTargets,
    temperature: float | Tensor,
    tile_size: int = DEFAULT_TILE,
) -> Tensor:
    """This rank's share of L_soft over the global pool (local anchors, global candidates), tiled.

    Same arguments, value and gradients as
    :func:`models.losses.soft_targets.local_global_soft_info_nce`; only the gathered features
    [N, d] are held, never the b x N logits. Gradients w.r.t. ``global_image``/``global_text``
    flow back through :func:`models.losses.distributed.gather_with_grad`.

    Args:
        local_image: [b, d] this rank's image features.
        local_text: [b, d] this rank's text features.
        global_image: [N, d] all ranks' image features, rank-major.
        global_text: [N, d] all ranks' text features, rank-major.
        i2t_targets: [b, N] (or a provider of its tiles): local image i over the global texts.
        t2i_targets: [b, N] (or a provider of its tiles): local text j over the global images.
        temperature: tau > 0 (float or 0-d tensor).
        tile_size: rows and columns per tile.

    Returns:
        Scalar loss (float32, or float64 for float64 inputs).
    """
    tile = _check_tile(tile_size)
    b = local_image.shape[0]
    check_target_shape(i2t_targets, b, global_text.shape[0], "i2t_targets")
    check_target_shape(t2i_targets, b, global_image.shape[0], "t2i_targets")
    dtype = _loss_dtype(local_image, local_text, global_image, global_text)
    with torch.autocast(device_type=local_image.device.type, enabled=False):
        lu = F.normalize(local_image.to(dtype), dim=-1)
        lv = F.normalize(local_text.to(dtype), dim=-1)
        gu = F.normalize(global_image.to(dtype), dim=-1)
        gv = F.normalize(global_text.to(dtype), dim=-1)
        tau = _as_float(temperature, dtype, lu.device)
        loss_i2t = _TiledSoftRowCrossEntropy.apply(lu, gv, tau, i2t_targets, tile)  # b
        loss_t2i = _TiledSoftRowCrossEntropy.apply(lv, gu, tau, t2i_targets, tile)  # b
        return 0.5 * (loss_i2t.mean() + loss_t2i.mean())
