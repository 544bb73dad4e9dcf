"""SyncTalkNet's forward on padded batches: shapes, losses, gradients, padding invariance,
positional encoding on both inputs of every attention layer, predict, presets."""

from __future__ import annotations

import pytest
import torch
from synctalknet_batches import random_batch, tiny_config

from crossmodal_ray.models.layers.positional_attention import sinusoidal_positional_encoding
from crossmodal_ray.models.synctalknet import SyncTalkNet, SyncTalkNetConfig

LENGTHS = (14, 10, 7)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def warmed_up_model(**overrides) -> SyncTalkNet:
    """A tiny model whose BatchNorm running statistics are no longer the identity (so that the
    eval-mode checks see real normalisation), in eval mode."""
    torch.manual_seed(0)
    model = SyncTalkNet(tiny_config(**overrides))
    model.train()
    with torch.no_grad():
        for seed in range(3):
            model(**random_batch(LENGTHS, seed=seed))
    return model.eval()


def test_forward_returns_per_frame_outputs_and_the_losses():
    torch.manual_seed(0)
    model = SyncTalkNet(tiny_config())
    batch = random_batch(LENGTHS, total=16)
    out = model(**batch)
    for key in ("logits", "probabilities", "audio_logits", "visual_logits"):
        assert out[key].shape == (3, 16, 2), key
    assert out["speaking_probability"].shape == (3, 16)
    for key in ("loss", "av_loss", "audio_loss", "visual_loss", "exchange_loss"):
        assert out[key].dim() == 0 and torch.isfinite(out[key]), key
    padded = ~batch["mask"]
    assert (out["logits"][padded] == 0).all() and (out["speaking_probability"][padded] == 0).all()
    valid = out["probabilities"][batch["mask"]]
    assert torch.allclose(valid.sum(-1), torch.ones(len(valid)))
    expected = (
        out["av_loss"] + out["exchange_loss"] + 0.4 * (out["audio_loss"] + out["visual_loss"])
    )
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert int(out["exchange_pairs"]) == 3  # every random track has speaking frames


def test_every_parameter_gets_a_gradient_with_and_without_exchange():
    """DDP without find_unused_parameters: the exchange branch owns no parameter."""
    torch.manual_seed(0)
    model = SyncTalkNet(tiny_config())
    batch = random_batch(LENGTHS)
    for labels in (batch["labels"], torch.zeros_like(batch["labels"])):  # 3 pairs, then none
        model.zero_grad()
        out = model(batch["visual"], batch["audio"], batch["mask"], labels)
        out["loss"].backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert not missing
        assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_a_track_gives_the_same_outputs_alone_and_batched_with_longer_tracks():
    model = warmed_up_model()
    with torch.no_grad():
        batched = model(**random_batch(LENGTHS, total=20))
        for i, n in enumerate(LENGTHS):
            alone = random_batch(LENGTHS, seed=0)
            single = {k: v[i : i + 1, :n] for k, v in alone.items()}
            single["audio"] = alone["audio"][i : i + 1, : 4 * n]
            out = model(**single)
            for key in ("logits", "audio_logits", "visual_logits"):
                assert torch.allclose(out[key][0], batched[key][i, :n], atol=1e-5), (i, key)


def test_training_mode_outputs_and_loss_ignore_the_amount_of_padding():
    """Masked BatchNorm: padded frames never enter the batch statistics (dropout off)."""
    outputs = []
    for total in (14, 23):
        torch.manual_seed(0)
        model = SyncTalkNet(tiny_config(dropout=0.0)).train()
        out = model(
            **random_batch(LENGTHS, total=total), generator=torch.Generator().manual_seed(1)
        )
        outputs.append(out)
    short, long = outputs
    assert torch.allclose(short["logits"], long["logits"][:, :14], atol=1e-5)
    for key in ("loss", "av_loss", "exchange_loss"):
        assert short[key].item() == pytest.approx(long[key].item(), abs=1e-5), key


def test_uint8_and_float_faces_on_the_same_pixel_scale_give_the_same_output():
    model = warmed_up_model()
    batch = random_batch(LENGTHS)
    with torch.no_grad():
        as_uint8 = model(batch["visual"], batch["audio"], batch["mask"])["logits"]
        as_float = model(batch["visual"].float(), batch["audio"], batch["mask"])["logits"]
    assert torch.allclose(as_uint8, as_float, atol=1e-6)


def test_positional_encoding_is_added_to_both_inputs_of_every_attention_layer():
    model = warmed_up_model()
    layers = model.attention.layers()
    assert len(layers) == 3  # audio <- visual, visual <- audio, self-attention on the concat
    seen: dict[int, dict[str, torch.Tensor]] = {}

    def record_layer_inputs(index):
        def hook(module, args):
            seen.setdefault(index, {}).update(query=args[0], key_value=args[1])

        return hook

    def record_attention_inputs(index):
        def hook(module, args, kwargs):
            seen.setdefault(index, {}).update(q=args[0], k=args[1], v=args[2])

        return hook

    for i, layer in enumerate(layers):
        layer.register_forward_pre_hook(record_layer_inputs(i))
        layer.attention.register_forward_pre_hook(record_attention_inputs(i), with_kwargs=True)
    batch = random_batch(LENGTHS)
    for enabled in (True, False):
        model.set_positional_encoding(enabled)
        seen.clear()
        with torch.no_grad():
            model(batch["visual"], batch["audio"], batch["mask"])
        assert sorted(seen) == [0, 1, 2]
        for i, s in seen.items():
            t, d = s["query"].shape[1:]
            pe = sinusoidal_positional_encoding(t, d) if enabled else torch.zeros(t, d)
            assert torch.allclose(s["q"] - s["query"], pe.expand_as(s["q"]), atol=1e-6), i
            assert torch.allclose(s["k"] - s["key_value"], pe.expand_as(s["k"]), atol=1e-6), i
            assert torch.equal(s["k"], s["v"])


def test_switching_the_positional_encoding_off_changes_the_outputs():
    model = warmed_up_model()
    batch = random_batch(LENGTHS)
    with torch.no_grad():
        with_pe = model(batch["visual"], batch["audio"], batch["mask"])["logits"]
        model.set_positional_encoding(False)
        without = model(batch["visual"], batch["audio"], batch["mask"])["logits"]
    assert (with_pe - without).abs().max() > 1e-3
    ablation = SyncTalkNet(tiny_config(positional_encoding=False))
    assert not any(layer.positional_encoding for layer in ablation.attention.layers())


def test_predict_gives_eval_mode_speaking_probabilities_and_restores_the_mode():
    model = warmed_up_model().train()
    batch = random_batch(LENGTHS, total=16)
    probability = model.predict(batch["visual"], batch["audio"], batch["mask"])
    assert model.training
    assert probability.shape == (3, 16)
    assert ((probability >= 0) & (probability <= 1)).all()
    assert (probability[~batch["mask"]] == 0).all()
    model.eval()
    with torch.no_grad():
        expected = model(batch["visual"], batch["audio"], batch["mask"])["probabilities"][..., 1]
    assert torch.allclose(probability, expected)


def test_wrong_crop_size_or_audio_length_is_refused():
    model = SyncTalkNet(tiny_config())
    batch = random_batch(LENGTHS)
    with pytest.raises(ValueError, match="frame_size"):
        model(batch["visual"][:, :, :16, :16], batch["audio"], batch["mask"])
    with pytest.raises(ValueError, match="4 per video frame"):
        model(batch["visual"], batch["audio"][:, :-1], batch["mask"])


def test_paper_preset_has_talknet_sizes_and_small_keeps_the_structure():
    paper = SyncTalkNetConfig.paper()
    assert (paper.frame_size, paper.embed_dim, paper.av_dim, paper.heads) == (112, 128, 256, 8)
    assert paper.visual_stem_kernel == (5, 7, 7) and paper.visual_stem_channels == 64
    assert paper.visual_blocks == (2, 2, 2, 2) and paper.visual_tcn_blocks == 5
    assert paper.audio_blocks == (3, 4, 6, 3) and paper.aux_loss_weight == 0.4
    assert paper.positional_encoding and paper.track_exchange and paper.exchange_weight == 1.0
    model = SyncTalkNet(paper)
    # TalkNet reports 15.0 M parameters; ours: the same blocks, 3-D stem, SE layers with bias.
    assert 14e6 < model.num_parameters() < 17e6
    small = SyncTalkNetConfig.small(frame_size=64)
    assert small.frame_size == 64 and small.heads == 8
    assert SyncTalkNet(small).num_parameters() < model.num_parameters() / 10
    assert SyncTalkNetConfig.from_dict(small.to_dict()) == small
    with pytest.raises(ValueError):
        SyncTalkNetConfig(embed_dim=100, heads=8)
    with pytest.raises(ValueError, match="stride"):
        SyncTalkNetConfig(frame_size=32)


def test_a_lone_one_frame_track_trains():
    """A segment's 1-frame tail alone in a batch: no batch variance, running statistics."""
    torch.manual_seed(0)
    model = SyncTalkNet(tiny_config()).train()
    out = model(**random_batch((1,)))
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and out["logits"].shape == (1, 1, 2)
