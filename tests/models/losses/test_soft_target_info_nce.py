"""Soft targets per direction (COOLANT's L_soft): plain, tiled and gathered, against references.

Targets are random Dirichlet(1) rows with ``i2t != t2i`` (and ``t2i != i2t.T``), so a mix-up of
the two directions or of a row with a column shows. One-hot targets must give the hard losses.
The 2-worker test runs a real gloo group on loopback, as ``test_gather_with_grad.py`` does.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.multiprocessing as mp
from loopback_process_group import new_store_path, run_in_loopback_group
from torch.testing import assert_close

from crossmodal_ray.models.losses import (
    info_nce,
    local_global_info_nce,
    local_global_soft_info_nce,
    soft_info_nce,
    tiled_info_nce,
    tiled_local_global_info_nce,
    tiled_local_global_soft_info_nce,
    tiled_soft_info_nce,
)
from crossmodal_ray.models.losses.distributed import gather_with_grad, get_world_size

TOL = {"rtol": 1e-6, "atol": 1e-8}


def _dirichlet_rows(rows: int, cols: int, seed: int) -> torch.Tensor:
    """[rows, cols] float64, each row ~ Dirichlet(1, ..., 1) (normalised Exp(1) draws)."""
    g = torch.Generator().manual_seed(seed)
    e = -torch.rand(rows, cols, generator=g, dtype=torch.float64).log()
    return e / e.sum(1, keepdim=True)


def _leaves(batch: int, dim: int = 6, seed: int = 0, tau: float = 0.2):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, dim, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(batch, dim, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(tau, dtype=torch.float64, requires_grad=True)
    return u, v, t


def _targets(batch: int, cols: int | None = None, seed: int = 1):
    cols = batch if cols is None else cols
    return _dirichlet_rows(batch, cols, seed), _dirichlet_rows(batch, cols, seed + 100)


def _value_and_grads(loss_fn, inputs):
    loss = loss_fn()
    return (loss.detach(), *torch.autograd.grad(loss, inputs))


def _assert_all_close(got, ref, **tol):
    for a, b in zip(got, ref, strict=True):
        assert_close(a, b, **(tol or TOL))


def loop_reference(image, text, i2t, t2i, tau):
    """Explicit loops: 1/2 [mean_i sum_j -Q_i2t[i,j] log softmax_j(L[i,:])
    + mean_j sum_i -Q_t2i[j,i] log softmax_i(L[:,j])], L = u v^T / tau on unit vectors."""
    n = image.shape[0]
    u = [image[i] / torch.sqrt((image[i] * image[i]).sum()) for i in range(n)]
    v = [text[j] / torch.sqrt((text[j] * text[j]).sum()) for j in range(n)]
    logit = [[(u[i] * v[j]).sum() / tau for j in range(n)] for i in range(n)]
    i2t_sum = 0.0
    for i in range(n):
        log_norm = torch.log(sum(torch.exp(logit[i][j]) for j in range(n)))
        i2t_sum = i2t_sum + sum(-i2t[i, j] * (logit[i][j] - log_norm) for j in range(n))
    t2i_sum = 0.0
    for j in range(n):
        log_norm = torch.log(sum(torch.exp(logit[i][j]) for i in range(n)))
        t2i_sum = t2i_sum + sum(-t2i[j, i] * (logit[i][j] - log_norm) for i in range(n))
    return 0.5 * (i2t_sum / n + t2i_sum / n)


def matrix_reference(image, text, i2t, t2i, tau, reduction="mean"):
    """The full logit matrix; the text->image softmax runs down the columns (no transpose)."""
    u = image / image.norm(dim=1, keepdim=True)
    v = text / text.norm(dim=1, keepdim=True)
    logits = u @ v.T / tau  # images x texts
    log_p_i2t = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    log_p_t2i = logits - torch.logsumexp(logits, dim=0, keepdim=True)
    per_window = 0.5 * (-(i2t * log_p_i2t).sum(1) - (t2i.T * log_p_t2i).sum(0))
    return {"mean": per_window.mean(), "sum": per_window.sum(), "none": per_window}[reduction]


def test_plain_matches_loops_forward_and_backward():
    u, v, tau = _leaves(6, dim=5)
    i2t, t2i = _targets(6)
    ref = _value_and_grads(lambda: loop_reference(u, v, i2t, t2i, tau), (u, v, tau))
    got = _value_and_grads(lambda: soft_info_nce(u, v, i2t, t2i, tau), (u, v, tau))
    _assert_all_close(got, ref)


def test_plain_with_transposed_targets_is_info_nce_soft():
    """``info_nce``'s single soft matrix T reads text->image as its columns: ``t2i = T.T``."""
    u, v, tau = _leaves(9)
    i2t, _ = _targets(9)
    ref = _value_and_grads(lambda: info_nce(u, v, tau, soft_targets=i2t), (u, v, tau))
    got = _value_and_grads(lambda: soft_info_nce(u, v, i2t, i2t.T, tau), (u, v, tau))
    _assert_all_close(got, ref)


@pytest.mark.parametrize(("batch", "tile"), [(50, 7), (50, 1), (50, 50), (50, 64), (13, 4)])
def test_tiled_matches_reference(batch, tile):
    u, v, tau = _leaves(batch)
    i2t, t2i = _targets(batch)
    ref = _value_and_grads(lambda: matrix_reference(u, v, i2t, t2i, tau), (u, v, tau))
    plain = _value_and_grads(lambda: soft_info_nce(u, v, i2t, t2i, tau), (u, v, tau))
    got = _value_and_grads(
        lambda: tiled_soft_info_nce(u, v, i2t, t2i, tau, tile_size=tile), (u, v, tau)
    )
    _assert_all_close(plain, ref)
    _assert_all_close(got, ref)


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_reductions_with_uneven_upstream_gradient(reduction):
    u, v, tau = _leaves(23, seed=2)
    i2t, t2i = _targets(23, seed=3)
    w = torch.linspace(-1.0, 2.0, 23, dtype=torch.float64)  # negative weights: the mul path
    ref = _value_and_grads(
        lambda: (matrix_reference(u, v, i2t, t2i, tau, reduction) * w).sum(), (u, v, tau)
    )
    plain = _value_and_grads(
        lambda: (soft_info_nce(u, v, i2t, t2i, tau, reduction=reduction) * w).sum(), (u, v, tau)
    )
    got = _value_and_grads(
        lambda: (tiled_soft_info_nce(u, v, i2t, t2i, tau, 5, reduction) * w).sum(), (u, v, tau)
    )
    _assert_all_close(plain, ref)
    _assert_all_close(got, ref)


def test_one_hot_targets_reproduce_the_hard_losses():
    world, b = 3, 5
    n = world * b
    u, v, tau = _leaves(n, seed=4)
    eye = torch.eye(n, dtype=torch.float64)
    inputs = (u, v, tau)
    hard = _value_and_grads(lambda: info_nce(u, v, tau), inputs)
    _assert_all_close(_value_and_grads(lambda: soft_info_nce(u, v, eye, eye, tau), inputs), hard)
    _assert_all_close(
        _value_and_grads(lambda: tiled_soft_info_nce(u, v, eye, eye, tau, tile_size=4), inputs),
        _value_and_grads(lambda: tiled_info_nce(u, v, tau, tile_size=4), inputs),
    )
    _assert_all_close(
        _value_and_grads(lambda: tiled_soft_info_nce(u, v, eye, eye, tau, tile_size=4), inputs),
        hard,
    )
    for r in range(world):
        sl = slice(r * b, (r + 1) * b)
        one_hot = eye[sl]  # row i: 1 at global column r*b + i
        local = (u[sl], v[sl], u, v)
        ref = _value_and_grads(lambda: local_global_info_nce(*local, r * b, tau), inputs)  # noqa: B023
        got = _value_and_grads(
            lambda: local_global_soft_info_nce(*local, one_hot, one_hot, tau),  # noqa: B023
            inputs,
        )
        _assert_all_close(got, ref)
        ref = _value_and_grads(
            lambda: tiled_local_global_info_nce(*local, r * b, tau, tile_size=4),  # noqa: B023
            inputs,
        )
        got = _value_and_grads(
            lambda: tiled_local_global_soft_info_nce(*local, one_hot, one_hot, tau, 4),  # noqa: B023
            inputs,
        )
        _assert_all_close(got, ref)


@pytest.mark.parametrize("tiled", [False, True])
def test_local_global_mean_over_ranks_equals_full_batch(tiled):
    """Simulated ranks: each holds the rows of its anchors over the global pool."""
    world, b = 3, 7
    n = world * b
    u, v, tau = _leaves(n, seed=5)
    i2t, t2i = _targets(n, seed=6)

    def share(*args):
        if tiled:
            return tiled_local_global_soft_info_nce(*args, tile_size=4)  # b=7, N=21: uneven
        return local_global_soft_info_nce(*args)

    def mean_over_ranks():
        parts = []
        for r in range(world):
            sl = slice(r * b, (r + 1) * b)
            parts.append(share(u[sl], v[sl], u, v, i2t[sl], t2i[sl], tau))
        return torch.stack(parts).mean()

    ref = _value_and_grads(lambda: matrix_reference(u, v, i2t, t2i, tau), (u, v, tau))
    got = _value_and_grads(mean_over_ranks, (u, v, tau))
    _assert_all_close(got, ref)


def test_tile_provider_matches_dense_and_only_asks_for_tiles():
    """A callable gives each tile on demand (no B x B target array); it is asked only for
    tiles of at most tile x tile, and the result equals the dense targets'."""
    batch, tile = 19, 6
    u, v, tau = _leaves(batch, seed=7)
    i2t, t2i = _targets(batch, seed=8)
    shapes = []

    def provider(dense):
        def tiles(rows, cols):
            (r0, r1), (c0, c1) = rows, cols
            shapes.append((r1 - r0, c1 - c0))
            return dense[r0:r1, c0:c1]

        return tiles

    inputs = (u, v, tau)
    dense = _value_and_grads(lambda: tiled_soft_info_nce(u, v, i2t, t2i, tau, tile), inputs)
    got = _value_and_grads(
        lambda: tiled_soft_info_nce(u, v, provider(i2t), provider(t2i), tau, tile), inputs
    )
    _assert_all_close(got, dense)
    assert shapes and max(r for r, _ in shapes) <= tile and max(c for _, c in shapes) <= tile
    sl = slice(7, 14)
    ref = _value_and_grads(
        lambda: local_global_soft_info_nce(u[sl], v[sl], u, v, i2t[sl], t2i[sl], tau), inputs
    )
    got = _value_and_grads(
        lambda: tiled_local_global_soft_info_nce(
            u[sl], v[sl], u, v, provider(i2t[sl]), provider(t2i[sl]), tau, tile
        ),
        inputs,
    )
    _assert_all_close(got, ref)
    plain = soft_info_nce(u, v, provider(i2t), provider(t2i), tau)
    assert_close(plain.detach(), dense[0], **TOL)


def test_targets_get_no_gradient():
    u, v, tau = _leaves(8, seed=9)
    i2t, t2i = (t.requires_grad_() for t in _targets(8, seed=10))
    for loss in (
        soft_info_nce(u, v, i2t, t2i, tau),
        tiled_soft_info_nce(u, v, i2t, t2i, tau, tile_size=3),
        local_global_soft_info_nce(u[:4], v[:4], u, v, i2t[:4], t2i[:4], tau),
        tiled_local_global_soft_info_nce(u[:4], v[:4], u, v, i2t[:4], t2i[:4], tau, 3),
    ):
        loss.backward()
    assert i2t.grad is None and t2i.grad is None
    assert u.grad is not None and tau.grad is not None


def test_float32_and_float_temperature():
    g = torch.Generator().manual_seed(11)
    u = torch.randn(37, 16, generator=g, requires_grad=True)
    v = torch.randn(37, 16, generator=g, requires_grad=True)
    i2t, t2i = (t.float() for t in _targets(37, seed=12))
    ref = _value_and_grads(lambda: soft_info_nce(u, v, i2t, t2i, 0.07), (u, v))
    got = _value_and_grads(lambda: tiled_soft_info_nce(u, v, i2t, t2i, 0.07, 8), (u, v))
    assert got[0].dtype == torch.float32
    _assert_all_close(got, ref, rtol=1e-5, atol=1e-5)


def test_gradcheck_tiny():
    u, v, tau = _leaves(5, dim=3, seed=13)
    i2t, t2i = _targets(5, seed=14)
    assert torch.autograd.gradcheck(
        lambda a, c, t: tiled_soft_info_nce(a, c, i2t, t2i, t, tile_size=2), (u, v, tau)
    )
    assert torch.autograd.gradcheck(
        lambda a, c, t: tiled_local_global_soft_info_nce(
            a[2:4], c[2:4], a, c, i2t[2:4], t2i[2:4], t, tile_size=2
        ),
        (u, v, tau),
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_cuda_matches_cpu():
    u, v, tau = _leaves(40, seed=15)
    i2t, t2i = _targets(40, seed=16)
    ref = _value_and_grads(lambda: soft_info_nce(u, v, i2t, t2i, tau), (u, v, tau))
    uc, vc, tc = (t.detach().cuda().requires_grad_() for t in (u, v, tau))
    got = _value_and_grads(
        lambda: tiled_soft_info_nce(uc, vc, i2t.cuda(), t2i.cuda(), tc, 9), (uc, vc, tc)
    )
    _assert_all_close([g.cpu() for g in got], ref)


def test_bad_arguments():
    u, v, tau = _leaves(4)
    i2t, t2i = _targets(4)
    with pytest.raises(ValueError, match="t2i_targets"):
        soft_info_nce(u, v, i2t, t2i[:3], tau)
    with pytest.raises(ValueError, match="i2t_targets"):
        tiled_soft_info_nce(u, v, i2t[:, :3], t2i, tau)
    with pytest.raises(ValueError):
        tiled_soft_info_nce(u, v, i2t, t2i, tau, tile_size=0)
    with pytest.raises(ValueError):
        tiled_soft_info_nce(u, v, i2t, t2i, tau, reduction="max")
    with pytest.raises(ValueError, match="i2t_targets"):
        local_global_soft_info_nce(u[:2], v[:2], u, v, i2t, t2i[:2], tau)
    with pytest.raises(ValueError, match="target tile"):
        tiled_soft_info_nce(u, v, lambda rows, cols: torch.ones(1, 1), t2i, tau, tile_size=2)


# --- a real 2-process gloo group: gathered soft loss == single-process loss on the full batch ---

WORLD, LOCAL_B, DIM, TAU = 2, 5, 4, 0.07
DDP_CASES = ("plain", "tiled")


def _global_problem():
    """The same features [N, d] and targets [N, N] on every process (N = WORLD * LOCAL_B)."""
    n = WORLD * LOCAL_B
    g = torch.Generator().manual_seed(20)
    image = torch.randn(n, DIM, generator=g, dtype=torch.float64)
    text = torch.randn(n, DIM, generator=g, dtype=torch.float64)
    i2t, t2i = _targets(n, seed=21)
    return image, text, i2t, t2i


def _rank_soft_losses(rank: int, out_dir: str) -> None:
    """Each rank: its local rows, negatives gathered with gradient, its rows of the targets."""
    assert get_world_size() == WORLD
    image, text, i2t, t2i = _global_problem()
    sl = slice(rank * LOCAL_B, (rank + 1) * LOCAL_B)
    results = {}
    for case in DDP_CASES:
        local_u = image[sl].clone().requires_grad_()
        local_v = text[sl].clone().requires_grad_()
        tau = torch.tensor(TAU, dtype=torch.float64, requires_grad=True)
        global_u, global_v = gather_with_grad(local_u), gather_with_grad(local_v)
        args = (local_u, local_v, global_u, global_v, i2t[sl], t2i[sl], tau)
        if case == "plain":
            loss = local_global_soft_info_nce(*args)
        else:
            loss = tiled_local_global_soft_info_nce(*args, tile_size=3)  # N=10: uneven tiles
        grads = torch.autograd.grad(loss, (local_u, local_v, tau))
        results[case] = (loss.detach(), *grads)
    torch.save(results, os.path.join(out_dir, f"soft_rank{rank}.pt"))


@pytest.fixture(scope="module")
def two_rank_results(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("soft_ddp")
    mp.spawn(
        run_in_loopback_group,
        args=(WORLD, new_store_path(out_dir), _rank_soft_losses, str(out_dir)),
        nprocs=WORLD,
    )
    return [torch.load(out_dir / f"soft_rank{r}.pt") for r in range(WORLD)]


@pytest.mark.parametrize("case", DDP_CASES)
def test_two_ranks_equal_single_process_full_batch(two_rank_results, case):
    """mean of the ranks' losses == full loss; each rank's local gradient (the gather's backward
    sums every rank's column terms) divided by W, as DDP's average does, == the full gradient
    of its rows; the mean of the ranks' temperature gradients == the full one."""
    image, text, i2t, t2i = _global_problem()
    u, v = image.clone().requires_grad_(), text.clone().requires_grad_()
    tau = torch.tensor(TAU, dtype=torch.float64, requires_grad=True)
    loss, grad_u, grad_v, grad_tau = _value_and_grads(
        lambda: soft_info_nce(u, v, i2t, t2i, tau), (u, v, tau)
    )
    per_rank = [results[case] for results in two_rank_results]
    assert_close(torch.stack([r[0] for r in per_rank]).mean(), loss, **TOL)
    assert_close(torch.stack([r[3] for r in per_rank]).mean(), grad_tau, **TOL)
    for rank, (_, local_grad_u, local_grad_v, _) in enumerate(per_rank):
        sl = slice(rank * LOCAL_B, (rank + 1) * LOCAL_B)
        assert_close(local_grad_u / WORLD, grad_u[sl], **TOL)
        assert_close(local_grad_v / WORLD, grad_v[sl], **TOL)
