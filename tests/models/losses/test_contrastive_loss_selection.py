"""One loss, three ways to compute it ("full", "local", "tiled"), with or without a MoCo queue.

Single process: the three give the same value and gradients (float64). A real 2-process gloo
group (one spawn for every case): each way, under DDP, gives parameter gradients equal to the
single-process full-batch gradient, the queue ends up holding the global batch in rank order,
and unequal local batches raise a clear error on every rank instead of hanging (the training
loop itself never produces them: equal splits and ``drop_last=True``, see ``training/loop.py``).
"""

from __future__ import annotations

import json
import os

import pytest
import torch
import torch.multiprocessing as mp
from loopback_process_group import new_store_path, run_in_loopback_group
from tiny_group_model import (
    BATCH,
    EMBED,
    GROUPS,
    TinyGroupModel,
    parameter_grads,
    tiny_batch,
    tiny_model,
)
from torch import nn

from crossmodal_ray.models.losses import MultiGroupContrastiveLoss
from crossmodal_ray.models.losses.contrastive_loss_config import ContrastiveLossConfig
from crossmodal_ray.models.losses.distributed import gather_with_grad
from crossmodal_ray.models.mbsl.model import MBSLConfig, MBSLPretrainModel

WORLD, QUEUE = 2, 12

# case -> (loss kwargs, use the validity mask)
CASES = {
    "full": (dict(loss="full"), False),
    "local": (dict(loss="local"), False),
    "tiled": (dict(loss="tiled", tile_size=3), False),
    "tiled_valid": (dict(loss="tiled", tile_size=3), True),
    "local_queue_valid": (dict(loss="local", queue_size=QUEUE), True),
    "tiled_queue": (dict(loss="tiled", tile_size=5, queue_size=QUEUE), False),
}


def _model(**loss_kwargs) -> TinyGroupModel:
    model = tiny_model(**loss_kwargs)
    if model.loss.queue is not None:  # the same past negatives on every rank
        g = torch.Generator().manual_seed(2)
        past = torch.randn(GROUPS, QUEUE - 3, EMBED, generator=g, dtype=torch.float64)
        past_valid = torch.rand(GROUPS, QUEUE - 3, generator=g) > 0.2
        model.loss.queue.enqueue_global(past, past_valid)
    return model


def _rank_cases(rank: int, out_dir: str) -> None:
    """One process group for every case (spawning costs seconds on a shared CPU)."""
    x, valid = tiny_batch()
    b = BATCH // WORLD
    local_x = x[rank * b : (rank + 1) * b]
    for case, (kwargs, use_valid) in CASES.items():
        local_valid = valid[:, rank * b : (rank + 1) * b] if use_valid else None
        model = nn.parallel.DistributedDataParallel(_model(**kwargs))
        out, _ = model(local_x, local_valid)
        out["loss"].backward()
        queue = model.module.loss.queue
        torch.save(
            {
                "grads": parameter_grads(model.module),
                "loss": float(out["loss"].detach()),
                "queue": None if queue is None else queue.state_dict(),
            },
            os.path.join(out_dir, f"{case}_rank{rank}.pt"),
        )
    # Unequal local batches (3 vs 4 rows): every rank gets the same clear error.
    try:
        gather_with_grad(torch.zeros(3 + rank, EMBED, requires_grad=True))
        message = "no error"
    except ValueError as err:
        message = str(err)
    with open(os.path.join(out_dir, f"unequal_rank{rank}.json"), "w") as f:
        json.dump(message, f)


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("ddp_selection")
    mp.spawn(
        run_in_loopback_group,
        args=(WORLD, new_store_path(out_dir), _rank_cases, str(out_dir)),
        nprocs=WORLD,
    )
    return out_dir


def _single_process(case: str):
    kwargs, use_valid = CASES[case]
    x, valid = tiny_batch()
    reference = _model(**{**kwargs, "loss": "full"})  # the plain N x N loss, whole batch
    out, _ = reference(x, valid if use_valid else None)
    out["loss"].backward()
    return reference, out


@pytest.mark.parametrize("case", list(CASES))
def test_ddp_gradients_equal_single_process_full_batch(ddp_results, case):
    reference, out = _single_process(case)
    expected = parameter_grads(reference)
    losses = []
    for rank in range(WORLD):
        result = torch.load(ddp_results / f"{case}_rank{rank}.pt")
        assert result["grads"].keys() == expected.keys()
        for name, grad in expected.items():
            torch.testing.assert_close(result["grads"][name], grad, rtol=1e-5, atol=1e-7, msg=name)
        if reference.loss.queue is not None:  # every rank enqueued the global batch, rank order
            for key, value in reference.loss.queue.state_dict().items():
                torch.testing.assert_close(result["queue"][key], value, rtol=0, atol=1e-12)
        losses.append(result["loss"])
    assert sum(losses) / WORLD == pytest.approx(float(out["loss"].detach()), rel=1e-9)


def test_unequal_local_batches_raise_instead_of_hanging(ddp_results):
    for rank in range(WORLD):
        message = json.loads((ddp_results / f"unequal_rank{rank}.json").read_text())
        assert "same local shape on every rank" in message, message
        assert "[(3, 4), (4, 4)]" in message and "drop_last=True" in message


@pytest.mark.parametrize("queue", [False, True])
def test_full_local_tiled_agree_single_process(queue):
    x, valid = tiny_batch()
    results = {}
    for loss in ("full", "local", "tiled"):
        model = _model(loss=loss, tile_size=3, queue_size=QUEUE if queue else 0)
        out, _ = model(x, valid)
        out["loss"].backward()
        results[loss] = (out["loss"].detach(), parameter_grads(model))
    want_loss, want_grads = results["full"]
    for loss in ("local", "tiled"):
        got_loss, got_grads = results[loss]
        torch.testing.assert_close(got_loss, want_loss, rtol=1e-12, atol=1e-12)
        for name, grad in want_grads.items():
            torch.testing.assert_close(got_grads[name], grad, rtol=1e-9, atol=1e-12, msg=name)


def test_queue_enqueues_only_in_training_mode():
    x, _ = tiny_batch()
    model = _model(loss="local", queue_size=QUEUE)
    filled = int(model.loss.queue.filled)
    with torch.no_grad():
        model.eval()(x)
    assert int(model.loss.queue.filled) == filled
    out, _ = model.train()(x)
    assert int(out["queue_filled"]) == filled  # the loss used the queue before this step's batch
    assert int(model.loss.queue.filled) == min(QUEUE, filled + BATCH)


def test_constructor_arguments_and_config_validation():
    assert MultiGroupContrastiveLoss(local_loss=False).config.loss == "full"
    assert not MultiGroupContrastiveLoss(loss="full").local_loss
    assert MultiGroupContrastiveLoss(loss="tiled").local_loss
    with pytest.raises(ValueError, match="contradicts"):
        MultiGroupContrastiveLoss(local_loss=False, loss="tiled")
    with pytest.raises(ValueError, match="n_groups and embed_dim"):
        MultiGroupContrastiveLoss(queue_size=16)
    with pytest.raises(ValueError, match="loss must be one of"):
        ContrastiveLossConfig(loss="chunked")
    with pytest.raises(ValueError, match="tile_size"):
        ContrastiveLossConfig(tile_size=0)
    with pytest.raises(ValueError, match="queue_size"):
        ContrastiveLossConfig(queue_size=-1)
    with pytest.raises(ValueError, match="temperature"):
        ContrastiveLossConfig(temperature=0.0)


TINY = dict(d_model=16, n_heads=2, n_layers=1, dim_feedforward=32, embed_dim=8)


def test_mbsl_config_round_trip_with_loss_fields():
    cfg = MBSLConfig.small(loss="tiled", tile_size=2048, queue_size=65536)
    assert MBSLConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.to_dict()["loss"] == "tiled" and cfg.to_dict()["queue_size"] == 65536
    old = MBSLConfig().to_dict()
    for key in ("loss", "tile_size", "queue_size"):
        old.pop(key)  # configs saved before these fields still load, with the defaults
    assert MBSLConfig.from_dict(old).loss == "local"
    with pytest.raises(ValueError, match="loss must be one of"):
        MBSLConfig(loss="queue")
    with pytest.raises(ValueError, match="queue_size"):
        MBSLConfig(queue_size=-5)


def test_mbsl_pretrain_tiled_with_queue_forward_backward():
    torch.manual_seed(0)
    config = MBSLConfig.small(
        loss="tiled", tile_size=4, queue_size=128, window_samples=64, mask_ratios=(0.4,), **TINY
    )
    model = MBSLPretrainModel(config)
    g = torch.Generator().manual_seed(0)
    signals = torch.randn(6, 7, 64, generator=g)
    present = torch.ones(6, 7, dtype=torch.bool)
    present[2, 6] = False  # one window lacks SpO2 (group 3)
    for step in range(2):  # the second step has 6 queued windows as extra negatives
        model.zero_grad()
        out = model(signals, present)
        out["loss"].backward()
        assert torch.isfinite(out["loss"]) and int(out["queue_filled"]) == 6 * step
        grads = [p.grad for p in model.encoder.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
    assert model.loss.queue.queue.shape == (4, 128, 8)
    assert int(model.loss.queue.filled) == 12
    assert not bool(model.loss.queue.queue_valid[3, [2, 8]].any())  # the absent SpO2 windows
