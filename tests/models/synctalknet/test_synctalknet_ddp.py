"""SyncTalkNet under DDP on two CPU processes: one rank exchanges tracks, the other has a single
speaking track and skips the exchange, with different track lengths; DDP runs without
``find_unused_parameters`` and the replicas stay identical."""

from __future__ import annotations

import os

import torch
import torch.multiprocessing as mp
from loopback_process_group import new_store_path, run_in_loopback_group
from synctalknet_batches import random_batch, tiny_config
from torch.nn.parallel import DistributedDataParallel

from crossmodal_ray.models.synctalknet import SyncTalkNet

WORLD = 2
STEPS = 2


def _rank_batch(rank: int) -> dict[str, torch.Tensor]:
    if rank == 0:
        return random_batch((12, 9, 5), seed=0)  # three speaking tracks: exchange
    batch = random_batch((7, 4), seed=1)
    batch["labels"] = batch["labels"].clamp(max=0)
    batch["labels"][0, 0] = 1  # one speaking track: no exchange
    return batch


def _rank_train(rank: int, out_dir: str) -> None:
    torch.manual_seed(0)  # the same initial weights on both ranks
    model = DistributedDataParallel(SyncTalkNet(tiny_config()), find_unused_parameters=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    pairs = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        out = model(**_rank_batch(rank), generator=torch.Generator().manual_seed(rank))
        out["loss"].backward()
        optimizer.step()
        pairs.append(int(out["exchange_pairs"]))
    weights = {k: v.detach() for k, v in model.module.named_parameters()}
    torch.save({"weights": weights, "pairs": pairs}, os.path.join(out_dir, f"rank{rank}.pt"))


def test_ranks_with_and_without_exchange_step_together(tmp_path):
    mp.spawn(
        run_in_loopback_group,
        args=(WORLD, new_store_path(tmp_path), _rank_train, str(tmp_path)),
        nprocs=WORLD,
    )
    first, second = (torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD))
    assert first["pairs"] == [3] * STEPS and second["pairs"] == [0] * STEPS
    torch.manual_seed(0)
    initial = dict(SyncTalkNet(tiny_config()).named_parameters())
    moved = 0
    for name, value in first["weights"].items():
        torch.testing.assert_close(value, second["weights"][name], rtol=0, atol=1e-6)
        moved += int(not torch.allclose(value, initial[name]))
    assert moved > 0.9 * len(first["weights"])  # the steps did update the replicas
