"""A real 2-process gloo group: gather_with_grad + local loss + DDP == full-batch gradient.

Each rank holds half of a batch, embeds it with a tiny linear model wrapped in DDP (the loss,
with a learned temperature, lives inside the wrapped module as in ``MBSLPretrainModel``), and
back-propagates ``MultiGroupContrastiveLoss``. After DDP's gradient average every parameter
gradient must equal the single-process gradient of the full-batch loss (float64, 1e-5).
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from loopback_process_group import new_store_path, run_in_loopback_group
from tiny_group_model import BATCH, parameter_grads, tiny_batch, tiny_model
from torch import nn

from crossmodal_ray.models.losses.distributed import (
    gather_with_grad,
    get_rank,
    get_world_size,
    is_distributed,
)

WORLD = 2


# case: (local_loss, use_valid, gather_with_grad). "full_no_grad_gather" is the full loss on
# features gathered without gradient: each rank holds all of dL/dz for its slice only, which
# DDP's mean would divide by W unless the loss scales it (the fix this case checks).
CASES = {
    "local": (True, False, True),
    "valid": (True, True, True),
    "full": (False, False, True),
    "full_no_grad_gather": (False, True, False),
}


def _rank_cases(rank: int, out_dir: str) -> None:
    """One process group for every case (spawning costs seconds on a shared CPU)."""
    assert is_distributed() and get_rank() == rank and get_world_size() == WORLD
    x, valid = tiny_batch()
    b = BATCH // WORLD
    local_x = x[rank * b : (rank + 1) * b]
    for case, (local_loss, use_valid, with_grad) in CASES.items():
        local_valid = valid[:, rank * b : (rank + 1) * b] if use_valid else None
        model = nn.parallel.DistributedDataParallel(
            tiny_model(local_loss=local_loss, gather_with_grad=with_grad)
        )
        out, z_local = model(local_x, local_valid)
        out["loss"].backward()
        gathered = gather_with_grad(z_local.detach().transpose(0, 1)).transpose(0, 1)
        losses: list = [None] * WORLD
        dist.all_gather_object(losses, float(out["loss"].detach()))
        torch.save(
            {"grads": parameter_grads(model.module), "gathered": gathered, "losses": losses},
            os.path.join(out_dir, f"{case}_rank{rank}.pt"),
        )


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("ddp")
    mp.spawn(
        run_in_loopback_group,
        args=(WORLD, new_store_path(out_dir), _rank_cases, str(out_dir)),
        nprocs=WORLD,
    )
    return out_dir


@pytest.mark.parametrize("case", list(CASES))
def test_ddp_gradients_equal_single_process_full_batch(ddp_results, case):
    _, use_valid, _ = CASES[case]
    x, valid = tiny_batch()
    reference = tiny_model()
    out, z_full = reference(x, valid if use_valid else None)
    out["loss"].backward()
    expected = parameter_grads(reference)
    for rank in range(WORLD):
        result = torch.load(ddp_results / f"{case}_rank{rank}.pt")
        # The gathered negatives are the global batch, in rank order.
        torch.testing.assert_close(result["gathered"], z_full.detach(), rtol=0, atol=1e-12)
        # DDP-averaged gradients == full-batch gradients (temperature included).
        assert result["grads"].keys() == expected.keys()
        for name, grad in expected.items():
            torch.testing.assert_close(result["grads"][name], grad, rtol=1e-5, atol=1e-7, msg=name)
        # The mean of the ranks' losses is the full-batch loss.
        mean_loss = sum(result["losses"]) / WORLD
        assert mean_loss == pytest.approx(float(out["loss"].detach()), rel=1e-9)


def test_gather_with_grad_is_identity_when_not_distributed():
    x = torch.randn(3, 2)
    assert gather_with_grad(x) is x
    assert get_rank() == 0 and get_world_size() == 1 and not is_distributed()
