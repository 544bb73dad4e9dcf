"""Rank helpers and an all-gather that carries gradients, for losses with a global negative pool.

Why the backward SUMS the gradients of all ranks (OpenCLIP issue 616)
---------------------------------------------------------------------
Let rank ``r`` hold local features ``x_r`` (``b`` rows) and compute

    L_r = (1 / b) * sum_{i in rows of r} l_i(x_r[i], X)          (local rows, global columns)

with ``X = cat(x_0, ..., x_{W-1})`` gathered from all ``W`` ranks. With equal local batches the
global mean loss is ``L = (1 / W) * sum_r L_r`` (every row counted once, ``W * b`` rows).
Rank ``r``'s features feed every ``L_r'`` through the columns, so the exact gradient is
``dL/dx_r = (1 / W) * sum_r' dL_r'/dx_r``. The backward below gives rank ``r`` the slice
``sum_r' dL_r'/dx_r`` (an all-reduce SUM of the gathered gradient, then the local slice, which is
what ``torch.distributed.nn.functional.all_gather``'s reduce-scatter does), and DDP then AVERAGES
the parameter gradients over ranks, supplying the ``1 / W``. Parameters therefore receive exactly
the single-process gradient of the global mean loss over the full ``W * b`` batch. A plain
``all_gather`` (no gradient) loses the column terms of other ranks; a backward that only keeps
the local slice without summing is ``W`` times too small for those terms.

Both functions require every rank to hold the SAME local batch size (``dist.all_gather`` needs
equal shapes); the training loop guarantees it with equal splits and ``drop_last=True``. Before
the data moves, a tiny all-gather of the shapes checks it: unequal shapes raise the same
``ValueError`` on every rank instead of hanging or gathering garbage.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    """True when a default process group with more than one rank is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """This process's rank in the default group, 0 when not distributed."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    """Number of ranks in the default group, 1 when not distributed."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


_MAX_DIMS = 8


def _check_equal_shapes(x: Tensor, caller: str) -> None:
    """All-gather every rank's shape (one small collective) and raise on any difference."""
    if x.dim() > _MAX_DIMS:
        raise ValueError(f"{caller} supports at most {_MAX_DIMS} dims, got {x.dim()}")
    shape = torch.full((_MAX_DIMS + 1,), -1, dtype=torch.long, device=x.device)
    shape[0] = x.dim()
    shape[1 : x.dim() + 1] = torch.tensor(x.shape, dtype=torch.long)
    shapes = [torch.empty_like(shape) for _ in range(dist.get_world_size())]
    dist.all_gather(shapes, shape)
    per_rank = [tuple(s[1 : int(s[0]) + 1].tolist()) for s in shapes]
    if len(set(per_rank)) > 1:
        raise ValueError(
            f"{caller} needs the same local shape on every rank, got {per_rank} (rank order); "
            "every rank must see equal batches: split the data equally and use drop_last=True"
        )


class _GatherWithGrad(torch.autograd.Function):
    """``all_gather`` forward, ``all_reduce(SUM)`` + local slice backward (gloo has no
    ``reduce_scatter``)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.rank = dist.get_rank()
        ctx.local_batch = x.shape[0]
        _check_equal_shapes(x, "gather_with_grad")
        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x)
        return torch.cat(parts, dim=0)  # (W*b) x ...

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)  # sum_r' dL_r'/dX
        start = ctx.rank * ctx.local_batch
        return grad[start : start + ctx.local_batch]


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` [b, ...] of every rank into [W*b, ...] along dim 0, with gradients.

    Rows ``rank*b : (rank+1)*b`` of the result are this rank's ``x``. All ranks must pass the same
    shape (checked: a ``ValueError`` on every rank otherwise). Returns ``x`` itself when not
    distributed.

    Args:
        x: local tensor, batch first.

    Returns:
        The global batch in rank order; backward sums every rank's gradient for the local slice
        (see the module docstring for why that gives the exact full-batch gradient under DDP).
    """
    if not is_distributed():
        return x
    return _GatherWithGrad.apply(x)


@torch.no_grad()
def gather_no_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` [b, ...] of every rank into [W*b, ...] without gradient (masks, ids).

    Bool tensors travel as uint8 (not every backend reduces bools). Returns ``x`` when not
    distributed.
    """
    if not is_distributed():
        return x
    _check_equal_shapes(x, "gather_no_grad")
    dtype = x.dtype
    send = (x.to(torch.uint8) if dtype == torch.bool else x).contiguous()
    parts = [torch.empty_like(send) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, send)
    return torch.cat(parts, dim=0).to(dtype)
