"""The word-region max-sim loss (VG-BERT eq. 1-2): tiled == naive in value and gradient, padding
masked, and 2 gloo workers with gather-with-grad + DDP averaging == the single-process
full-batch gradient."""

from __future__ import annotations

import os

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from loopback_process_group import new_store_path, run_in_loopback_group

from crossmodal_ray.models.losses.distributed import get_rank
from crossmodal_ray.models.losses.word_region_maxsim import (
    MaxSimContrastiveLoss,
    maxsim_info_nce,
    word_region_similarity,
)

B, R, W, D = 10, 7, 5, 6


def batch(seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    regions = torch.randn(B, R, D, generator=g, dtype=dtype)
    words = torch.randn(B, W, D, generator=g, dtype=dtype)
    lengths = torch.randint(1, W + 1, (B,), generator=g)
    mask = torch.arange(W)[None, :] < lengths[:, None]
    words = torch.where(mask[..., None], words, torch.full_like(words, 100.0))  # loud padding
    return regions, words, mask


def naive_similarity(regions, words, mask):
    """Loops of eq. 1, no tricks: mean over the caption's real words of the best region."""
    s = torch.zeros(regions.shape[0], words.shape[0], dtype=regions.dtype)
    for i in range(regions.shape[0]):
        for j in range(words.shape[0]):
            real = words[j][mask[j]]  # |C_j| x d
            s[i, j] = (real @ regions[i].T).amax(dim=1).mean()
    return s


def naive_loss(regions, words, mask, tau=0.1, normalize=False):
    if normalize:
        regions, words = F.normalize(regions, dim=-1), F.normalize(words, dim=-1)
    s = naive_similarity(regions, words, mask) / tau
    target = torch.arange(s.shape[0])
    return 0.5 * (F.cross_entropy(s, target) + F.cross_entropy(s.T, target))


@pytest.mark.parametrize("tile", [0, 3, 4, 64])
def test_similarity_matches_the_naive_loops_and_ignores_padding(tile):
    regions, words, mask = batch()
    got = word_region_similarity(regions, words, mask, tile_size=tile)
    assert torch.allclose(got, naive_similarity(regions, words, mask), atol=1e-12)


@pytest.mark.parametrize("tile", [3, 64])
@pytest.mark.parametrize("normalize", [False, True])
def test_loss_and_gradients_match_the_naive_reference(tile, normalize):
    regions, words, mask = batch(1)
    ours = [t.clone().requires_grad_() for t in (regions, words)]
    ref = [t.clone().requires_grad_() for t in (regions, words)]
    loss = maxsim_info_nce(ours[0], ours[1], mask, 0.1, normalize, tile_size=tile)
    expected = naive_loss(ref[0], ref[1], mask, 0.1, normalize)
    loss.backward()
    expected.backward()
    assert torch.allclose(loss, expected, atol=1e-10)
    for a, b in zip(ours, ref, strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-10)
    assert float(ours[1].grad[~mask].abs().max()) == 0.0  # padding words get no gradient


def test_gradcheck_tiled():
    regions, words, mask = batch(2)
    regions, words = regions[:4, :3].requires_grad_(), words[:4, :3].requires_grad_()
    mask = mask[:4, :3] | (torch.arange(3) == 0)
    torch.autograd.gradcheck(
        lambda r, w: maxsim_info_nce(r, w, mask, 0.2, tile_size=2), (regions, words)
    )


WORLD = 2


def _rank_loss(rank: int, out_dir: str) -> None:
    assert get_rank() == rank
    regions, words, mask = batch(3)
    b = B // WORLD
    weight = torch.nn.Parameter(torch.eye(D, dtype=torch.float64) + 0.1)
    local = slice(rank * b, (rank + 1) * b)
    local_regions = regions[local] @ weight  # a parameter shared by both streams, as DDP sees it
    local_words = words[local] @ weight
    loss = MaxSimContrastiveLoss(0.1, tile_size=2)(local_regions, local_words, mask[local])
    loss.backward()
    grad = weight.grad.clone()
    torch.distributed.all_reduce(grad)  # what DDP does: mean of the ranks' gradients
    torch.save({"loss": float(loss), "grad": grad / WORLD}, os.path.join(out_dir, f"r{rank}.pt"))


def test_two_workers_gather_with_grad_equal_the_full_batch(tmp_path):
    """Each rank holds half of the pairs; the module gathers both streams with gradient."""
    mp.spawn(
        run_in_loopback_group,
        args=(WORLD, new_store_path(tmp_path), _rank_loss, str(tmp_path)),
        nprocs=WORLD,
    )
    results = [torch.load(tmp_path / f"r{r}.pt") for r in range(WORLD)]
    regions, words, mask = batch(3)
    weight = torch.nn.Parameter(torch.eye(D, dtype=torch.float64) + 0.1)
    full = naive_loss(regions @ weight, words @ weight, mask)
    full.backward()
    mean_loss = sum(r["loss"] for r in results) / WORLD
    assert mean_loss == pytest.approx(float(full), rel=1e-10)
    for result in results:
        assert torch.allclose(result["grad"], weight.grad, atol=1e-10)
