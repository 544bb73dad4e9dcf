"""tiled_info_nce and tiled_local_global_info_nce against info_nce, forward and backward."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from crossmodal_ray.models.losses.info_nce import info_nce, local_global_info_nce
from crossmodal_ray.models.losses.tiled_info_nce import tiled_info_nce, tiled_local_global_info_nce

TOL = {"rtol": 1e-6, "atol": 1e-6}


def _leaves(batch: int, dim: int = 6, seed: int = 0, tau: float = 0.2):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, dim, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(batch, dim, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(tau, dtype=torch.float64, requires_grad=True)
    return q, k, t


def _value_and_grads(loss_fn, inputs):
    loss = loss_fn()
    return (loss.detach(), *torch.autograd.grad(loss, inputs))


@pytest.mark.parametrize(("batch", "tile"), [(50, 7), (50, 1), (50, 50), (50, 64), (13, 4)])
@pytest.mark.parametrize("soft", [False, True])
def test_tiled_matches_info_nce(batch, tile, soft):
    q, k, tau = _leaves(batch)
    targets = None
    if soft:
        g = torch.Generator().manual_seed(1)
        targets = torch.softmax(torch.randn(batch, batch, generator=g, dtype=torch.float64), 1)
    ref = _value_and_grads(lambda: info_nce(q, k, tau, targets), (q, k, tau))
    got = _value_and_grads(lambda: tiled_info_nce(q, k, tau, targets, tile_size=tile), (q, k, tau))
    for a, b in zip(got, ref, strict=True):
        assert_close(a, b, **TOL)


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_reduction_none_and_sum_with_uneven_upstream_gradient(reduction):
    q, k, tau = _leaves(23)
    w = torch.linspace(-1.0, 2.0, 23, dtype=torch.float64)  # negative weights: the mul path
    ref = _value_and_grads(
        lambda: (info_nce(q, k, tau, reduction=reduction) * w).sum(), (q, k, tau)
    )
    got = _value_and_grads(
        lambda: (tiled_info_nce(q, k, tau, tile_size=5, reduction=reduction) * w).sum(), (q, k, tau)
    )
    for a, b in zip(got, ref, strict=True):
        assert_close(a, b, **TOL)


def test_float_temperature_and_float32():
    g = torch.Generator().manual_seed(3)
    q = torch.randn(37, 16, generator=g, requires_grad=True)
    k = torch.randn(37, 16, generator=g, requires_grad=True)
    ref = _value_and_grads(lambda: info_nce(q, k, 0.07), (q, k))
    got = _value_and_grads(lambda: tiled_info_nce(q, k, 0.07, tile_size=8), (q, k))
    assert got[0].dtype == torch.float32
    for a, b in zip(got, ref, strict=True):
        assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_local_global_matches_reference_and_full_batch():
    """Each simulated rank's tiled share equals the reference share; their mean is the full loss."""
    world, b = 3, 7
    n = world * b
    q, k, tau = _leaves(n, seed=4)
    inputs = (q, k, tau)
    full = _value_and_grads(lambda: info_nce(q, k, tau), inputs)

    def mean_over_ranks(fn):
        parts = [
            fn(q[r * b : (r + 1) * b], k[r * b : (r + 1) * b], q, k, r * b, tau)
            for r in range(world)
        ]
        return torch.stack(parts).mean()

    ref = _value_and_grads(lambda: mean_over_ranks(local_global_info_nce), inputs)
    got = _value_and_grads(
        lambda: mean_over_ranks(
            lambda *a: tiled_local_global_info_nce(*a, tile_size=4)  # b=7, N=21: uneven tiles
        ),
        inputs,
    )
    for a, r, f in zip(got, ref, full, strict=True):
        assert_close(a, r, **TOL)
        assert_close(a, f, **TOL)


def test_local_global_masks():
    world, b = 2, 9
    n = world * b
    q, k, tau = _leaves(n, seed=5)
    valid = torch.ones(n, dtype=torch.bool)
    valid[[1, 4, 10, 17]] = False
    for r in range(world):
        sl = slice(r * b, (r + 1) * b)
        args = (q[sl], k[sl], q, k, r * b, tau, valid[sl], valid)
        ref = _value_and_grads(lambda: local_global_info_nce(*args), (q, k, tau))  # noqa: B023
        got = _value_and_grads(
            lambda: tiled_local_global_info_nce(*args, tile_size=4),  # noqa: B023
            (q, k, tau),
        )
        for a, c in zip(got, ref, strict=True):
            assert_close(a, c, **TOL)


def test_local_global_all_masked_is_zero_with_graph():
    q, k, tau = _leaves(4, seed=6)
    none = torch.zeros(4, dtype=torch.bool)
    loss = tiled_local_global_info_nce(q, k, q, k, 0, tau, none, none, tile_size=3)
    loss.backward()
    assert loss.item() == 0.0
    assert q.grad is not None and float(q.grad.abs().max()) == 0.0


def test_gradcheck_tiny():
    q, k, tau = _leaves(5, dim=3, seed=7)
    soft = torch.softmax(torch.randn(5, 5, dtype=torch.float64), 1)
    assert torch.autograd.gradcheck(
        lambda a, c, t: tiled_info_nce(a, c, t, tile_size=2), (q, k, tau)
    )
    assert torch.autograd.gradcheck(
        lambda a, c, t: tiled_info_nce(a, c, t, soft, tile_size=3), (q, k, tau)
    )
    assert torch.autograd.gradcheck(
        lambda a, c, t: tiled_local_global_info_nce(a[2:4], c[2:4], a, c, 2, t, tile_size=2),
        (q, k, tau),
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_cuda_matches_cpu():
    q, k, tau = _leaves(40, seed=8)
    ref = _value_and_grads(lambda: info_nce(q, k, tau), (q, k, tau))
    qc, kc, tc = (t.detach().cuda().requires_grad_() for t in (q, k, tau))
    got = _value_and_grads(lambda: tiled_info_nce(qc, kc, tc, tile_size=9), (qc, kc, tc))
    for a, b in zip(got, ref, strict=True):
        assert_close(a.cpu(), b, **TOL)


def test_bad_arguments():
    q, k, tau = _leaves(4)
    with pytest.raises(ValueError):
        tiled_info_nce(q, k, tau, tile_size=0)
    with pytest.raises(ValueError):
        tiled_info_nce(q, k, tau, reduction="max")
    with pytest.raises(ValueError):
        tiled_local_global_info_nce(q, k, q, k, 0, tau, torch.ones(4, dtype=torch.bool))
