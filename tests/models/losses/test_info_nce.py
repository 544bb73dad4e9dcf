"""info_nce and local_global_info_nce against a hand-written float64 reference."""

from __future__ import annotations

import math

import pytest
import torch

from crossmodal_ray.models.losses import MultiGroupContrastiveLoss, info_nce, local_global_info_nce

B, E = 6, 5


def reference_info_nce(q, k, tau, soft=None):
    """Explicit loops: L = 1/2 [mean_i -sum_j t_ij log softmax_j(q_i.k_j/tau)
    + mean_j -sum_i t_ij log softmax_i(k_j.q_i/tau)]."""
    n = q.shape[0]
    qn = [q[i] / torch.sqrt((q[i] * q[i]).sum()) for i in range(n)]
    kn = [k[i] / torch.sqrt((k[i] * k[i]).sum()) for i in range(n)]

    def target(i, j):
        return (1.0 if i == j else 0.0) if soft is None else soft[i, j]

    rows = 0.0
    for i in range(n):
        logits = [(qn[i] * kn[j]).sum() / tau for j in range(n)]
        log_norm = torch.log(sum(torch.exp(x) for x in logits))
        rows = rows + sum(-target(i, j) * (logits[j] - log_norm) for j in range(n))
    cols = 0.0
    for j in range(n):
        logits = [(kn[j] * qn[i]).sum() / tau for i in range(n)]
        log_norm = torch.log(sum(torch.exp(x) for x in logits))
        cols = cols + sum(-target(i, j) * (logits[i] - log_norm) for i in range(n))
    return 0.5 * (rows / n + cols / n)


def _leaves(seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, E, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(B, E, generator=g, dtype=torch.float64, requires_grad=True)
    log_tau = torch.tensor(math.log(0.3), dtype=torch.float64, requires_grad=True)
    return q, k, log_tau


def _value_and_grads(fn, seed=0):
    q, k, log_tau = _leaves(seed)
    loss = fn(q, k, log_tau.exp())
    loss.backward()
    return loss.detach(), q.grad, k.grad, log_tau.grad


@pytest.mark.parametrize("seed", [0, 1])
def test_info_nce_matches_loops_forward_and_backward(seed):
    got = _value_and_grads(lambda q, k, t: info_nce(q, k, t), seed)
    ref = _value_and_grads(reference_info_nce, seed)
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)


def test_soft_targets_match_loops_and_one_hot_reduces_to_hard():
    g = torch.Generator().manual_seed(3)
    soft = torch.softmax(torch.randn(B, B, generator=g, dtype=torch.float64) * 2, dim=1)
    got = _value_and_grads(lambda q, k, t: info_nce(q, k, t, soft_targets=soft))
    ref = _value_and_grads(lambda q, k, t: reference_info_nce(q, k, t, soft))
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)
    q, k, _ = _leaves()
    eye = torch.eye(B, dtype=torch.float64)
    torch.testing.assert_close(info_nce(q, k, 0.2, soft_targets=eye), info_nce(q, k, 0.2))


def test_reductions():
    q, k, _ = _leaves()
    per = info_nce(q, k, 0.2, reduction="none")
    assert per.shape == (B,)
    torch.testing.assert_close(per.mean(), info_nce(q, k, 0.2))
    torch.testing.assert_close(per.sum(), info_nce(q, k, 0.2, reduction="sum"))
    with pytest.raises(ValueError):
        info_nce(q, k, 0.2, reduction="max")


@pytest.mark.parametrize("world", [2, 3])
def test_local_global_mean_over_ranks_equals_full_batch(world):
    def simulated_ranks(q, k, tau):
        b = q.shape[0] // world
        losses = [
            local_global_info_nce(q[r * b : (r + 1) * b], k[r * b : (r + 1) * b], q, k, r * b, tau)
            for r in range(world)
        ]
        return torch.stack(losses).mean()

    got = _value_and_grads(simulated_ranks)
    ref = _value_and_grads(lambda q, k, t: info_nce(q, k, t))
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)


def test_local_global_with_invalid_windows_equals_full_batch_on_valid_subset():
    valid = torch.tensor([True, False, True, True, True, False])

    def simulated_ranks(q, k, tau):
        losses = [
            local_global_info_nce(
                q[r * 3 : (r + 1) * 3],
                k[r * 3 : (r + 1) * 3],
                q,
                k,
                r * 3,
                tau,
                valid[r * 3 : (r + 1) * 3],
                valid,
            )
            for r in range(2)
        ]
        return torch.stack(losses).mean()

    got = _value_and_grads(simulated_ranks)
    ref = _value_and_grads(lambda q, k, t: info_nce(q[valid], k[valid], t))
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)


def test_multi_group_loss_is_mean_over_pairs_and_learns_temperature():
    g = torch.Generator().manual_seed(5)
    z = torch.randn(3, B, E, generator=g, dtype=torch.float64)
    loss_fn = MultiGroupContrastiveLoss(temperature=0.2, learn_temperature=True).double()
    out = loss_fn(z)
    pairs = [info_nce(z[a], z[b], 0.2) for a, b in ((0, 1), (0, 2), (1, 2))]
    torch.testing.assert_close(out["loss"], torch.stack(pairs).mean())
    torch.testing.assert_close(out["loss_g0_g2"], pairs[1])
    out["loss"].backward()
    assert loss_fn.log_logit_scale.grad is not None
    with pytest.raises(ValueError, match=">= 2 groups"):
        loss_fn(z[:1])
    # CLIP's clamp: 1/tau never exceeds 100.
    clamped = MultiGroupContrastiveLoss(temperature=0.001)
    assert float(clamped.temperature()) == pytest.approx(0.01)
