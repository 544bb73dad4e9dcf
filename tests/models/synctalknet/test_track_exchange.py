"""Contrastive track exchange: derangements, which tracks take part, and the exchanged pairs'
not-speaking labels in the model's loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from synctalknet_batches import length_mask, random_batch, tiny_config

from crossmodal_ray.models.synctalknet import SyncTalkNet
from crossmodal_ray.models.synctalknet.track_exchange import (
    derangement,
    exchange_pairs,
    speaking_tracks,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("n", range(2, 11))
def test_derangements_have_no_fixed_point_and_are_permutations(n):
    identity = torch.arange(n)
    seen = set()
    for seed in range(200):
        permutation = derangement(n, torch.Generator().manual_seed(seed))
        assert sorted(permutation.tolist()) == list(range(n))
        assert not (permutation == identity).any()
        seen.add(tuple(permutation.tolist()))
    if n == 3:
        assert seen == {(1, 2, 0), (2, 0, 1)}  # both derangements of 3 appear
    if n == 4:
        assert len(seen) == 9  # all 9 derangements of 4, not only the 6 four-cycles


def test_derangement_is_reproducible_from_its_generator():
    first = [derangement(7, torch.Generator().manual_seed(s)).tolist() for s in range(5)]
    again = [derangement(7, torch.Generator().manual_seed(s)).tolist() for s in range(5)]
    assert first == again
    assert len({tuple(p) for p in first}) > 1


def test_the_fallback_cycle_is_a_derangement_too():
    for seed in range(50):
        permutation = derangement(5, torch.Generator().manual_seed(seed), max_tries=0)
        assert sorted(permutation.tolist()) == list(range(5))
        assert not (permutation == torch.arange(5)).any()


def test_fewer_than_two_elements_have_no_derangement():
    with pytest.raises(ValueError):
        derangement(1)


def test_only_tracks_with_valid_speaking_frames_are_exchanged():
    mask = length_mask([6, 6, 4, 6, 6], 6)
    labels = torch.zeros(5, 6, dtype=torch.long)
    labels[0, 2] = 1
    labels[2, 5] = 1  # a speaking label on a padded frame does not count
    labels[3, :] = 1
    labels[4, 0] = -100
    assert speaking_tracks(labels, mask).tolist() == [0, 3]
    for seed in range(20):
        pairs = exchange_pairs(labels, mask, torch.Generator().manual_seed(seed))
        assert pairs.audio_index.tolist() == [0, 3]
        assert pairs.visual_index.tolist() == [3, 0]
        assert pairs.mask.all()


def test_pairs_cover_the_common_valid_length():
    mask = length_mask([9, 5, 7], 9)
    labels = torch.ones(3, 9, dtype=torch.long)
    for seed in range(20):
        pairs = exchange_pairs(labels, mask, torch.Generator().manual_seed(seed))
        assert len(pairs) == 3
        assert not (pairs.audio_index == pairs.visual_index).any()
        lengths = torch.tensor([9, 5, 7])
        common = torch.minimum(lengths[pairs.audio_index], lengths[pairs.visual_index])
        assert pairs.mask.sum(1).tolist() == common.tolist()
        assert torch.equal(pairs.mask, length_mask(common.tolist(), 9))


def test_fewer_than_two_speaking_tracks_means_no_exchange():
    mask = length_mask([5, 5, 5], 5)
    labels = torch.zeros(3, 5, dtype=torch.long)
    assert exchange_pairs(labels, mask) is None
    labels[1, 3] = 1
    assert exchange_pairs(labels, mask) is None


def test_exchanged_pairs_are_labelled_not_speaking_on_every_common_frame():
    """The model's exchange loss is the CE against 0 of the AV head's outputs on the pairs."""
    torch.manual_seed(0)
    model = SyncTalkNet(tiny_config()).train()
    batch = random_batch((12, 8, 10, 12), seed=3)
    batch["labels"][1] = torch.where(batch["mask"][1], 0, -100)  # a silent track: not exchanged
    head_outputs = []
    model.av_head.register_forward_hook(lambda m, a, out: head_outputs.append(out))
    out = model(**batch, generator=torch.Generator().manual_seed(5))
    pairs = exchange_pairs(batch["labels"], batch["mask"], torch.Generator().manual_seed(5))
    assert pairs.audio_index.tolist() == [0, 2, 3]
    assert int(out["exchange_pairs"]) == 3
    pair_logits = head_outputs[0][4:]  # after the 4 real tracks
    assert pair_logits.shape[0] == 3
    expected = F.cross_entropy(pair_logits[pairs.mask], torch.zeros(int(pairs.mask.sum())).long())
    assert out["exchange_loss"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_exchange_loss_is_zero_when_skipped_off_or_in_eval():
    torch.manual_seed(0)
    batch = random_batch((12, 8, 10))
    one_speaker = batch["labels"].clamp(max=0)
    one_speaker[0, 0] = 1
    model = SyncTalkNet(tiny_config()).train()
    out = model(batch["visual"], batch["audio"], batch["mask"], one_speaker)
    assert out["exchange_loss"].item() == 0 and int(out["exchange_pairs"]) == 0
    assert model(**batch)["exchange_loss"].item() > 0
    off = SyncTalkNet(tiny_config(track_exchange=False)).train()
    assert off(**batch)["exchange_loss"].item() == 0
    assert model.eval()(**batch)["exchange_loss"].item() == 0
