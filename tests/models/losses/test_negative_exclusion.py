"""Excluded negatives: an anchor's overlapping windows and its own queued key are no negatives.

Each loss with an exclusion must equal the same loss computed on logits from which the excluded
columns were removed by hand (row by row), in value and gradient; the tiled loss equals the
plain one; the queued loss never scores an anchor against its own queued key.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from crossmodal_ray.models.losses.info_nce import local_global_info_nce
from crossmodal_ray.models.losses.negative_exclusion import NegativeExclusion, WindowKeys
from crossmodal_ray.models.losses.queued_info_nce import queued_local_global_info_nce
from crossmodal_ray.models.losses.tiled_info_nce import tiled_local_global_info_nce

N, E, TAU = 8, 5, 0.3
# Two recordings: windows every 2 s; 8 s windows overlap when their starts are < 8 s apart.
SOURCE = torch.tensor([7, 7, 7, 7, 9, 9, 9, 9])
START = torch.tensor([0.0, 2.0, 4.0, 10.0, 0.0, 8.0, 16.0, 18.0], dtype=torch.float64)
SAMPLE = torch.arange(100, 100 + N)


def _keys() -> WindowKeys:
    return WindowKeys(SAMPLE.clone(), SOURCE.clone(), START.clone())


def _features(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(N, E, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(N, E, generator=g, dtype=torch.float64, requires_grad=True)
    return q, k


def _reference(q, k, keep: torch.Tensor) -> torch.Tensor:
    """Row by row: cross-entropy over the kept columns only (target column i)."""
    qn, kn = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    terms = []
    for logits in (qn @ kn.T / TAU, kn @ qn.T / TAU):
        for i in range(N):
            cols = keep[i].nonzero().flatten()
            target = int((cols == i).nonzero())
            terms.append(F.cross_entropy(logits[i, cols][None], torch.tensor([target])))
    return torch.stack(terms).mean()


def test_overlapping_windows_of_the_same_recording_are_excluded():
    exclusion = NegativeExclusion(_keys(), _keys(), overlap_s=8.0, row_offset=0)
    excluded = exclusion.full()
    # Window 0 (recording 7, 0 s) overlaps 2 s and 4 s, not 10 s; never recording 9's.
    assert excluded[0].tolist() == [False, True, True, False, False, False, False, False]
    assert excluded[5].tolist() == [False] * 8  # 8 s apart: no overlap; itself is the target
    assert not excluded.diagonal().any()  # the positive always stays
    assert not NegativeExclusion(_keys(), _keys(), overlap_s=0.0).full().any()


def test_excluded_local_global_loss_equals_the_loss_without_those_columns():
    exclusion = NegativeExclusion(_keys(), _keys(), overlap_s=8.0, row_offset=0)
    q, k = _features()
    got = local_global_info_nce(q, k, q, k, 0, TAU, exclusion=exclusion)
    got.backward()
    grads = q.grad.clone(), k.grad.clone()
    q2, k2 = _features()
    expected = _reference(q2, k2, ~exclusion.full())
    expected.backward()
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(grads, (q2.grad, k2.grad))
    q3, k3 = _features()
    assert not torch.isclose(got, local_global_info_nce(q3, k3, q3, k3, 0, TAU))


def test_tiled_loss_with_exclusion_equals_the_plain_loss():
    b = 4  # rank 1 of 2: rows 4..7 against the global batch
    exclusion = NegativeExclusion(_keys().select(torch.arange(4, 8)), _keys(), 8.0, row_offset=b)
    q, k = _features(1)
    plain = local_global_info_nce(q[b:], k[b:], q, k, b, TAU, exclusion=exclusion)
    plain.backward()
    grads = q.grad.clone(), k.grad.clone()
    q2, k2 = _features(1)
    tiled = tiled_local_global_info_nce(
        q2[b:], k2[b:], q2, k2, b, TAU, exclusion=exclusion, tile_size=3
    )
    tiled.backward()
    torch.testing.assert_close(tiled, plain)
    torch.testing.assert_close((q2.grad, k2.grad), grads)


def test_an_anchor_never_meets_its_own_queued_key():
    q, k = _features(2)
    g = torch.Generator().manual_seed(3)
    other = F.normalize(torch.randn(3, E, generator=g, dtype=torch.float64), dim=-1)
    # The queue holds stale keys of windows 0 and 5 (same samples as rows 0 and 5) + 3 others.
    stale = F.normalize(torch.stack([k[0], k[5]]).detach() * 1.01, dim=-1)
    stale_q = F.normalize(torch.stack([q[0], q[5]]).detach() * 1.01, dim=-1)
    queue_k, queue_q = torch.cat([stale, other]), torch.cat([stale_q, other])
    other_keys = WindowKeys(
        torch.tensor([900, 901, 902]), torch.tensor([1, 2, 3]), torch.zeros(3, dtype=torch.float64)
    )
    queue_keys = WindowKeys.cat([_keys().select(torch.tensor([0, 5])), other_keys])
    exclusion = NegativeExclusion(_keys(), WindowKeys.cat([_keys(), queue_keys]), 0.0, 0)
    excluded = exclusion.full()
    assert excluded[0, N] and excluded[5, N + 1]  # own stale key, masked
    assert excluded.sum() == 2  # nothing else (overlap masking off here)
    masked = queued_local_global_info_nce(q, k, q, k, 0, TAU, queue_q, queue_k, exclusion=exclusion)
    # Same as a queue without the two stale keys for rows 0 and 5 ... and with them for others.
    keep = torch.ones(N, N + 5, dtype=torch.bool)
    keep[0, N] = keep[5, N + 1] = False
    qn, kn = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    terms = []
    for rows, cols in ((qn, torch.cat([kn, queue_k])), (kn, torch.cat([qn, queue_q]))):
        logits = rows @ cols.T / TAU
        for i in range(N):
            kept = keep[i].nonzero().flatten()
            terms.append(F.cross_entropy(logits[i, kept][None], torch.tensor([i])))
    torch.testing.assert_close(masked, torch.stack(terms).mean())
    unmasked = queued_local_global_info_nce(q, k, q, k, 0, TAU, queue_q, queue_k)
    assert unmasked > masked  # the own key is the hardest negative there is
