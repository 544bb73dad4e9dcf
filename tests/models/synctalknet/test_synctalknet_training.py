"""Sanity training: the tiny SyncTalkNet fits a batch whose labels say "the audio's energy
envelope follows the mouth's brightness"."""

from __future__ import annotations

import pytest
import torch
from synctalknet_batches import synchronised_batch, tiny_config

from crossmodal_ray.models.synctalknet import SyncTalkNet

STEPS = 50


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_tiny_model_overfits_a_synchronised_batch():
    torch.manual_seed(0)
    model = SyncTalkNet(tiny_config(dropout=0.0)).train()
    batch = synchronised_batch(seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        out = model(**batch, generator=generator)
        out["loss"].backward()
        optimizer.step()
        losses.append(out["loss"].item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.5 * losses[0], losses
    probability = model.predict(batch["visual"], batch["audio"], batch["mask"])
    accuracy = ((probability > 0.5).long() == batch["labels"]).float().mean()
    assert accuracy > 0.9
