"""The cross-modal MoCo queue, the queued InfoNCE and the momentum key encoder.

A real 2-process gloo group checks that every rank's queue after several steps holds the global
batches in rank order (wrapping around a ring whose length is no multiple of the batch); the
queued loss is checked against a hand-written float64 loop (value and gradients).
"""

from __future__ import annotations

import math
import os

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from loopback_process_group import new_store_path, run_in_loopback_group
from torch import nn

from crossmodal_ray.models.losses.memory_queue import CrossModalMemoryQueue
from crossmodal_ray.models.losses.momentum_encoder import MomentumEncoder
from crossmodal_ray.models.losses.queued_info_nce import queued_local_global_info_nce

WORLD, LOCAL_B, GROUPS, EMBED, K, STEPS = 2, 3, 2, 4, 10, 4  # N = 6 per step, K = 10: wraps


def _step_embeddings(step: int, rank: int) -> torch.Tensor:
    """[G, b, E] embeddings that identify their step, rank, group and row."""
    g = torch.Generator().manual_seed(1000 * step + rank)
    return torch.randn(GROUPS, LOCAL_B, EMBED, generator=g, dtype=torch.float64)


def _global_batch(step: int) -> torch.Tensor:
    """[G, N, E]: the ranks' embeddings concatenated in rank order."""
    return torch.cat([_step_embeddings(step, r) for r in range(WORLD)], dim=1)


def _rank_queue(rank: int, out_dir: str) -> None:
    queue = CrossModalMemoryQueue(GROUPS, EMBED, size=K).double()
    for step in range(STEPS):
        queue.dequeue_and_enqueue(_step_embeddings(step, rank))
    torch.save(queue.state_dict(), os.path.join(out_dir, f"queue_rank{rank}.pt"))


def _expected_ring(steps: int) -> torch.Tensor:
    """[G, K, E]: slot j holds global window t (t = 0, 1, ... over all steps) with t % K == j."""
    stream = torch.cat([_global_batch(s) for s in range(steps)], dim=1)  # G x (steps*N) x E
    ring = torch.zeros(GROUPS, K, EMBED, dtype=torch.float64)
    for t in range(stream.shape[1]):
        ring[:, t % K] = F.normalize(stream[:, t], dim=-1)
    return ring


def test_two_workers_enqueue_global_batch_in_rank_order(tmp_path):
    mp.spawn(
        run_in_loopback_group,
        args=(WORLD, new_store_path(tmp_path), _rank_queue, str(tmp_path)),
        nprocs=WORLD,
    )
    expected = _expected_ring(STEPS)
    n_written = STEPS * WORLD * LOCAL_B  # 24 windows into 10 slots
    for rank in range(WORLD):
        state = torch.load(tmp_path / f"queue_rank{rank}.pt")
        torch.testing.assert_close(state["queue"], expected, rtol=0, atol=1e-12)
        assert int(state["ptr"]) == n_written % K
        assert int(state["filled"]) == K
        assert bool(state["queue_valid"].all())


def test_wrap_around_and_only_filled_slots_are_negatives():
    queue = CrossModalMemoryQueue(GROUPS, EMBED, size=K).double()
    assert queue.negatives().shape == (GROUPS, 0, EMBED)
    queue.dequeue_and_enqueue(_global_batch(0))  # 6 windows: slots 0..5
    assert queue.negatives(1).shape == (6, EMBED) and int(queue.ptr) == 6
    torch.testing.assert_close(queue.negatives(), _expected_ring(1)[:, :6])
    queue.dequeue_and_enqueue(_global_batch(1))  # slots 6..9, then 0..1 (straddles the end)
    assert int(queue.filled) == K and int(queue.ptr) == 2
    torch.testing.assert_close(queue.negatives(), _expected_ring(2))
    big = CrossModalMemoryQueue(GROUPS, EMBED, size=4).double()
    big.dequeue_and_enqueue(_global_batch(0))  # a batch longer than the ring: newest 4 survive
    newest = F.normalize(_global_batch(0)[:, 2:], dim=-1)
    torch.testing.assert_close(big.negatives()[:, [2, 3, 0, 1]], newest)


def test_pair_negatives_drop_windows_without_both_groups():
    queue = CrossModalMemoryQueue(GROUPS, EMBED, size=K).double()
    valid = torch.ones(GROUPS, 6, dtype=torch.bool)
    valid[1, [0, 4]] = False
    queue.enqueue_global(_global_batch(0), valid)
    qa, qb = queue.pair_negatives(0, 1)
    keep = [1, 2, 3, 5]
    torch.testing.assert_close(qa, F.normalize(_global_batch(0)[0, keep], dim=-1))
    torch.testing.assert_close(qb, F.normalize(_global_batch(0)[1, keep], dim=-1))
    assert queue.pair_negatives(0, 1, use_valid=False)[0].shape[0] == 6


def _reference(lq, lk, gq, gk, offset, tau, queue_q, queue_k, local_valid=None, global_valid=None):
    """Hand-written float64 loop over rows (no shared code with the implementation)."""
    b, n = lq.shape[0], gq.shape[0]
    gvalid = [True] * n if global_valid is None else [bool(v) for v in global_valid]
    lvalid = [True] * b if local_valid is None else [bool(v) for v in local_valid]

    def unit(v):
        return v / torch.sqrt((v * v).sum())

    def row_ce(row, cols_global, cols_queue, target):
        pos = (unit(row) * unit(cols_global[target])).sum() / tau
        terms = [(unit(row) * unit(c)).sum() / tau for j, c in enumerate(cols_global) if gvalid[j]]
        terms += [(unit(row) * unit(c)).sum() / tau for c in cols_queue]
        return -pos + torch.logsumexp(torch.stack(terms), dim=0)

    total = 0.0
    for i in range(b):
        if lvalid[i]:
            total = total + 0.5 * (
                row_ce(lq[i], gk, queue_k, offset + i) + row_ce(lk[i], gq, queue_q, offset + i)
            )
    n_valid = sum(gvalid)
    return total * n / (b * n_valid)


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    shapes = {"lq": (3, EMBED), "lk": (3, EMBED), "gq": (6, EMBED), "gk": (6, EMBED)}
    leaves = {k: torch.randn(*s, generator=g, dtype=torch.float64) for k, s in shapes.items()}
    leaves["tau"] = torch.tensor(0.2, dtype=torch.float64)
    for t in leaves.values():
        t.requires_grad_(True)
    queue_q = torch.randn(5, EMBED, generator=g, dtype=torch.float64)
    queue_k = torch.randn(7, EMBED, generator=g, dtype=torch.float64)
    return leaves, queue_q, queue_k


@pytest.mark.parametrize("tile_size", [None, 2])
@pytest.mark.parametrize("use_valid", [False, True])
def test_queued_loss_matches_hand_written_reference(tile_size, use_valid):
    leaves, queue_q, queue_k = _inputs()
    offset = 3  # rank 1 of 2
    gvalid = torch.tensor([True, False, True, True, True, False]) if use_valid else None
    lvalid = gvalid[offset : offset + 3] if use_valid else None
    args = [leaves[k] for k in ("lq", "lk", "gq", "gk")]
    got = queued_local_global_info_nce(
        *args, offset, leaves["tau"], queue_q, queue_k, lvalid, gvalid, tile_size=tile_size
    )
    got_grads = torch.autograd.grad(got, [*args, leaves["tau"]])
    want = _reference(*args, offset, leaves["tau"], queue_q, queue_k, lvalid, gvalid)
    want_grads = torch.autograd.grad(want, [*args, leaves["tau"]])
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    for g_got, g_want in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g_got, g_want, rtol=1e-8, atol=1e-10)


def test_queue_negatives_are_used_and_get_no_gradient():
    leaves, queue_q, queue_k = _inputs()
    args = [leaves[k] for k in ("lq", "lk", "gq", "gk")]
    queue_k.requires_grad_(True)
    with_queue = queued_local_global_info_nce(*args, 3, 0.2, queue_q, queue_k)
    other_queue = queued_local_global_info_nce(*args, 3, 0.2, queue_q, -queue_k.detach())
    empty = torch.zeros(0, EMBED, dtype=torch.float64)
    no_queue = queued_local_global_info_nce(*args, 3, 0.2, empty, empty)
    assert not math.isclose(with_queue.item(), other_queue.item(), rel_tol=1e-6)
    assert with_queue.item() > no_queue.item()  # more negatives, larger log-sum-exp
    with_queue.backward()
    assert queue_k.grad is None  # the queue holds constants (MoCo)
    assert args[0].grad is not None


def test_momentum_copy_moves_by_one_minus_m_of_the_gap_and_has_no_gradients():
    torch.manual_seed(0)
    encoder = nn.Linear(3, 2)
    key_encoder = MomentumEncoder(encoder, momentum=0.9)
    assert all(not p.requires_grad for p in key_encoder.parameters())
    with torch.no_grad():
        encoder.weight.add_(1.0)  # the query encoder moves (as after an optimiser step)
    before = key_encoder.encoder.weight.detach().clone()
    gap = encoder.weight.detach() - before
    key_encoder.update(encoder)
    moved = key_encoder.encoder.weight.detach() - before
    torch.testing.assert_close(moved, 0.1 * gap)  # exactly (1 - m) of the gap
    x = torch.randn(4, 3)
    keys = key_encoder(x)
    assert not keys.requires_grad  # keys are constants
    torch.testing.assert_close(key_encoder.encoder.weight, before + 0.1 * gap)  # no update
