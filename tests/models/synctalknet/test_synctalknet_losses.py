"""SyncTalkNet's losses on padded batches, and the masked BatchNorm the encoders rely on."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from synctalknet_batches import length_mask

from crossmodal_ray.models.synctalknet.losses import masked_cross_entropy, synctalknet_loss
from crossmodal_ray.models.synctalknet.masked_norm import (
    MaskedBatchNorm,
    downsample_mask,
    masked_time_mean,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_masked_cross_entropy_is_the_mean_over_valid_labelled_frames_only():
    torch.manual_seed(0)
    logits = torch.randn(3, 6, 2)
    labels = torch.randint(0, 2, (3, 6))
    labels[0, 1] = -100
    mask = length_mask([6, 4, 2], 6)
    keep = mask & (labels >= 0)
    expected = F.cross_entropy(logits[keep], labels[keep])
    assert masked_cross_entropy(logits, labels, mask).item() == pytest.approx(expected.item())
    junk = logits.clone()
    junk[~mask] = 1e6  # padded logits never count
    assert masked_cross_entropy(junk, labels, mask).item() == pytest.approx(expected.item())


def test_masked_cross_entropy_of_nothing_is_zero_and_keeps_a_gradient_path():
    logits = torch.randn(2, 3, 2, requires_grad=True)
    loss = masked_cross_entropy(logits, torch.zeros(2, 3).long(), torch.zeros(2, 3).bool())
    loss.backward()
    assert loss.item() == 0 and (logits.grad == 0).all()


def test_total_loss_weights_its_terms_and_labels_the_pairs_not_speaking():
    torch.manual_seed(0)
    av, audio, visual = (torch.randn(2, 5, 2) for _ in range(3))
    labels = torch.randint(0, 2, (2, 5))
    mask = length_mask([5, 3], 5)
    pairs = torch.zeros(2, 5, 2)
    pairs[..., 1] = 3.0  # confidently "speaking": a large exchange loss
    pair_mask = length_mask([3, 3], 5)
    out = synctalknet_loss(av, audio, visual, labels, mask, pairs, pair_mask, 0.4, 2.0)
    expected_exchange = F.cross_entropy(torch.tensor([[0.0, 3.0]]), torch.tensor([0]))
    assert out["exchange_loss"].item() == pytest.approx(expected_exchange.item(), rel=1e-6)
    total = (
        out["av_loss"] + 2.0 * out["exchange_loss"] + 0.4 * (out["audio_loss"] + out["visual_loss"])
    )
    assert out["loss"].item() == pytest.approx(total.item(), rel=1e-6)
    assert synctalknet_loss(av, audio, visual, labels, mask)["exchange_loss"].item() == 0


@pytest.mark.parametrize("extra", [(), (5,)])
def test_masked_batch_norm_matches_batch_norm_of_the_valid_frames(extra):
    torch.manual_seed(0)
    mask = length_mask([7, 3, 5], 7)
    x = torch.randn(3, 4, *extra, 7) * 3 + 1
    norm, reference = MaskedBatchNorm(4), torch.nn.BatchNorm1d(4)
    out = norm(x, mask)
    valid = x.movedim(-1, 1)[mask]  # N x C (x F)
    expected = reference(valid)
    assert torch.allclose(out.movedim(-1, 1)[mask], expected, atol=1e-5)
    assert (out.movedim(-1, 1)[~mask] == 0).all()
    assert torch.allclose(norm.running_mean, reference.running_mean, atol=1e-6)
    assert torch.allclose(norm.running_var, reference.running_var, atol=1e-6)
    padded_junk = x.clone()
    padded_junk.movedim(-1, 1)[~mask] = 1e3
    assert torch.allclose(MaskedBatchNorm(4)(padded_junk, mask), out, atol=1e-5)
    norm.eval()
    eval_out = norm(padded_junk, mask)
    assert torch.allclose(eval_out.movedim(-1, 1)[mask], reference.eval()(valid), atol=1e-5)


def test_masked_mean_and_strided_masks():
    mask = length_mask([4, 2], 4)
    x = torch.arange(2 * 1 * 3 * 4, dtype=torch.float32).reshape(2, 1, 3, 4)
    expected = torch.stack([x[0, 0].mean(), x[1, 0, :, :2].mean()])
    assert torch.allclose(masked_time_mean(x, mask)[:, 0], expected)
    assert downsample_mask(length_mask([8, 4, 2], 8), 2).sum(1).tolist() == [4, 2, 1]
