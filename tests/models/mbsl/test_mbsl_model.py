"""MBSL model: shapes, masking, absent channels, learning, bf16 autocast, downstream loss."""

from __future__ import annotations

import json

import pytest
import torch

from crossmodal_ray.models.layers.patch_embedding import patchify
from crossmodal_ray.models.layers.patch_masking import random_token_mask
from crossmodal_ray.models.mbsl.heads import MBSLDownstream, downstream_loss, regression_to_bpm
from crossmodal_ray.models.mbsl.model import MBSLConfig, MBSLEncoder, MBSLPretrainModel

B, C, T = 6, 7, 256
TINY = dict(d_model=32, n_heads=2, n_layers=1, dim_feedforward=64, embed_dim=16)


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, C, T, generator=g), torch.ones(B, C, dtype=torch.bool)


def test_config_round_trip_and_validation():
    cfg = MBSLConfig.small()
    assert cfg == MBSLConfig()
    assert MBSLConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    paper = MBSLConfig.paper()
    assert paper.d_model >= 128 and paper.n_layers >= 3
    with pytest.raises(ValueError):
        MBSLConfig(groups=((0, 1),))
    with pytest.raises(ValueError):
        MBSLConfig(groups=((0, 1), (1, 2)))


def test_shapes_and_patching():
    torch.manual_seed(0)
    encoder = MBSLEncoder(MBSLConfig.small(**TINY))
    x, present = _batch()
    assert encoder(x, present).shape == (4, B, 16)
    assert encoder.features(x, present).shape == (B, 4 * 16) and encoder.feature_dim == 64
    # Patch vector = the group's channels concatenated per patch; T not divisible -> padding.
    p = patchify(torch.arange(2 * 10.0).reshape(1, 2, 10), 4)
    assert p.shape == (1, 3, 8)
    assert p[0, 0].tolist() == [0, 1, 2, 3, 10, 11, 12, 13]
    assert p[0, 2].tolist() == [8, 9, 0, 0, 18, 19, 0, 0]
    mask = random_token_mask(5, 10, 0.4, torch.device("cpu"))
    assert mask.sum(1).tolist() == [4] * 5


def test_masking_changes_outputs_features_deterministic_in_eval():
    torch.manual_seed(0)
    encoder = MBSLEncoder(MBSLConfig.small(**TINY)).eval()
    x, present = _batch()
    with torch.no_grad():
        f1, f2 = encoder.features(x, present), encoder.features(x, present)
        masked = encoder(x, present, mask=True)
        unmasked = encoder(x, present, mask=False)
    torch.testing.assert_close(f1, f2, rtol=0, atol=0)
    torch.testing.assert_close(unmasked.transpose(0, 1).reshape(B, -1), f1)
    assert not torch.allclose(masked, unmasked, atol=1e-4)


def test_absent_channels_are_ignored():
    torch.manual_seed(0)
    encoder = MBSLEncoder(MBSLConfig.small(**TINY)).eval()
    x, present = _batch()
    present[:3, 1] = False  # PPG missing in half the windows (group 0 keeps ECG)
    present[:, 6] = False  # no SpO2 anywhere (group 3 entirely absent)
    other = x.clone()
    other[:3, 1] = 1e3 * torch.randn(3, T)
    other[:, 6] = torch.randn(B, T) + 96
    with torch.no_grad():
        torch.testing.assert_close(encoder.features(x, present), encoder.features(other, present))
    valid = encoder.group_present(x, present)
    assert valid.shape == (4, B) and not valid[3].any() and valid[:3].all()


def test_absent_group_drops_out_of_the_loss():
    torch.manual_seed(0)
    model = MBSLPretrainModel(MBSLConfig.small(**TINY))
    x, present = _batch()
    present[:, 6] = False
    out = model(x, present)
    assert "loss_g0_g3" not in out and "loss_g0_g1" in out and torch.isfinite(out["loss"])
    out["loss"].backward()
    # DDP without find_unused_parameters needs every parameter in the graph, even group 3's.
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    spo2_grads = [p.grad.abs().sum() for p in model.encoder.encoders[3].parameters()]
    assert float(sum(spo2_grads)) == 0.0


def test_optimisation_lowers_contrastive_loss():
    torch.manual_seed(0)
    cfg = MBSLConfig.small(**TINY, dropout=0.0)
    model = MBSLPretrainModel(cfg)
    g = torch.Generator().manual_seed(1)
    # Groups share a per-window latent so that the cross-group task is learnable.
    latent = torch.randn(16, 1, T, generator=g)
    x = latent + 0.3 * torch.randn(16, C, T, generator=g)
    present = torch.ones(16, C, dtype=torch.bool)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def eval_loss() -> float:
        torch.manual_seed(123)  # the same masks each time
        with torch.no_grad():
            return float(model(x, present)["loss"])

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: extra threads only contend on a shared CPU
    try:
        before = eval_loss()
        for _ in range(8):
            optimiser.zero_grad()
            model(x, present)["loss"].backward()
            optimiser.step()
        after = eval_loss()
    finally:
        torch.set_num_threads(threads)
    print(f"contrastive loss {before:.3f} -> {after:.3f}")
    assert after < before - 0.1, (before, after)


def test_bf16_autocast_forward_on_cpu():
    torch.manual_seed(0)
    model = MBSLPretrainModel(MBSLConfig.small(**TINY))
    x, present = _batch()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = model(x, present)
        feats = model.encoder.features(x, present)
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])
    assert feats.shape == (B, 64)
    out["loss"].backward()


def test_downstream_loss_masks_unknown_labels():
    torch.manual_seed(0)
    encoder = MBSLEncoder(MBSLConfig.small(**TINY))
    head = MBSLDownstream(encoder, n_activities=5)
    x, present = _batch()
    outputs = head(x, present)
    assert outputs["activity_logits"].shape == (B, 5) and outputs["hr_z"].shape == (B,)
    nan = float("nan")
    targets = {
        "hr_bpm": torch.tensor([70.0, nan, 90.0, nan, nan, 60.0]),
        "rr_bpm": torch.full((B,), nan),
        "activity": torch.tensor([0, -1, 2, -1, 4, -1]),
        "apnea": torch.tensor([-1, -1, -1, -1, 1, 0]),
    }
    result = downstream_loss(outputs, targets)
    terms = result["terms"]
    assert int(terms["n_hr_bpm"]) == 3 and int(terms["n_rr_bpm"]) == 0
    assert float(terms["rr_bpm"]) == 0.0
    known = torch.tensor([0, 2, 5])
    z = (targets["hr_bpm"][known] - 80.0) / 20.0
    torch.testing.assert_close(terms["hr_bpm"], ((outputs["hr_z"][known] - z) ** 2).mean().detach())
    known_act = torch.tensor([0, 2, 4])
    expected_ce = torch.nn.functional.cross_entropy(
        outputs["activity_logits"][known_act], targets["activity"][known_act]
    )
    torch.testing.assert_close(terms["activity"], expected_ce.detach())
    expected_bce = torch.nn.functional.binary_cross_entropy_with_logits(
        outputs["apnea_logit"][4:], torch.tensor([1.0, 0.0])
    )
    torch.testing.assert_close(terms["apnea"], expected_bce.detach())
    expected_total = terms["hr_bpm"] + expected_ce + expected_bce
    torch.testing.assert_close(result["loss"].detach(), expected_total.detach())
    # No label at all: zero loss that still back-propagates.
    empty = downstream_loss(outputs, {})
    assert float(empty["loss"].detach()) == 0.0 and empty["loss"].requires_grad
    assert torch.isfinite(result["loss"])
    result["loss"].backward()
    assert head.hr.weight.grad is not None and head.rr.weight.grad.abs().sum() == 0
    bpm = regression_to_bpm(outputs)
    torch.testing.assert_close(
        bpm["hr_bpm"], outputs["hr_z"].detach() * 20 + 80, check_stride=False
    )


def _queued_model(momentum: float = 0.5) -> MBSLPretrainModel:
    torch.manual_seed(0)
    config = MBSLConfig.small(
        **TINY, queue_size=2 * B, momentum=momentum, mask_ratios=(0.0,), dropout=0.0
    )
    return MBSLPretrainModel(config)


def test_the_queue_holds_the_momentum_encoders_keys_not_the_online_embeddings():
    """MoCo: keys come from the slowly moving copy (eq. 2), never from the encoder being
    trained, whose embeddings would make the queued negatives drift with every step."""
    model = _queued_model().train()
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(0.1 * torch.randn_like(p))  # the online encoder moved after the copy
    x, present = _batch()
    model(x, present)
    queue = model.loss.queue
    keys = torch.nn.functional.normalize(model.key_encoder(x, present, mask=True), dim=-1)
    online = torch.nn.functional.normalize(model.encoder(x, present, mask=True), dim=-1)
    assert int(queue.filled) == B
    assert torch.allclose(queue.queue[:, :B], keys, atol=1e-6)
    assert not torch.allclose(queue.queue[:, :B], online, atol=1e-3)


def test_after_an_optimizer_step_the_key_encoder_moves_toward_the_online_one():
    model = _queued_model(momentum=0.9).train()
    optimizer = torch.optim.SGD(model.encoder.parameters(), lr=0.5)
    x, present = _batch()
    before = {k: v.clone() for k, v in model.key_encoder.encoder.state_dict().items()}
    model(x, present)["loss"].backward()
    optimizer.step()
    model.after_optimizer_step()
    online = model.encoder.state_dict()
    moved = 0
    for name, old in before.items():
        new = model.key_encoder.encoder.state_dict()[name]
        if old.is_floating_point():
            assert torch.allclose(new, 0.9 * old + 0.1 * online[name], atol=1e-6), name
            moved += int(not torch.equal(new, old))
    assert moved > 0
    assert all(p.grad is None for p in model.key_encoder.parameters())


def test_a_checkpoint_restores_the_queue_and_the_key_encoder():
    model = _queued_model().train()
    x, present = _batch()
    model(x, present)
    model.after_optimizer_step()
    restored = _queued_model()
    restored.load_state_dict(model.state_dict())
    for name, value in model.state_dict().items():
        assert torch.equal(restored.state_dict()[name], value), name
    assert int(restored.loss.queue.filled) == B
    assert any(k.startswith("key_encoder.") for k in model.state_dict())
    assert any(k.endswith("key_sample") for k in model.state_dict())
