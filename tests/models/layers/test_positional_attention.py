"""The attention layer with a sinusoidal positional encoding on both inputs (Wuerkaixi et al.,
MLSP 2022): the encoding's values, that it reaches the query side and the key/value side, and
that it makes the layer see a time shift that it is blind to without it."""

from __future__ import annotations

import math

import pytest
import torch

from crossmodal_ray.models.layers.positional_attention import (
    PositionalAttentionLayer,
    sinusoidal_positional_encoding,
)

DIM = 16


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def layer(positional_encoding: bool) -> PositionalAttentionLayer:
    torch.manual_seed(0)
    return PositionalAttentionLayer(
        DIM, heads=4, dropout=0.0, positional_encoding=positional_encoding
    ).eval()


def varies_over_positions(x: torch.Tensor) -> bool:
    return bool((x - x[:, :1]).abs().max() > 1e-4)


def test_encoding_values_follow_vaswani():
    pe = sinusoidal_positional_encoding(50, 8)
    assert pe.shape == (50, 8)
    t, i = 7, 2  # column 2i = 4 is sin, 2i + 1 = 5 is cos
    angle = t / 10000 ** (2 * i / 8)
    assert pe[t, 4].item() == pytest.approx(math.sin(angle), abs=1e-6)
    assert pe[t, 5].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert torch.equal(pe[0, 1::2], torch.ones(4)) and torch.equal(pe[0, 0::2], torch.zeros(4))
    with pytest.raises(ValueError):
        sinusoidal_positional_encoding(5, 7)


def test_zero_inputs_give_position_dependent_outputs_only_with_the_encoding():
    zeros = torch.zeros(2, 9, DIM)
    with torch.no_grad():
        assert varies_over_positions(layer(True)(zeros, zeros))
        assert not varies_over_positions(layer(False)(zeros, zeros))


def test_the_encoding_reaches_the_query_side():
    """Identical queries at every position attend identically unless the query is encoded."""
    query = torch.zeros(2, 9, DIM)
    key_value = torch.randn(2, 9, DIM)
    with torch.no_grad():
        assert varies_over_positions(layer(True)(query, key_value))
        assert not varies_over_positions(layer(False)(query, key_value))


def test_the_encoding_reaches_the_key_value_side():
    """Identical keys/values: the output cannot depend on how many there are, unless they are
    encoded (then a longer sequence holds other positions)."""
    query = torch.randn(2, 5, DIM)
    short, long = torch.zeros(2, 5, DIM), torch.zeros(2, 11, DIM)
    for enabled, differs in ((True, True), (False, False)):
        module = layer(enabled)
        with torch.no_grad():
            gap = (module(query, short) - module(query, long)).abs().max()
        assert bool(gap > 1e-4) == differs


def test_without_the_encoding_cross_attention_is_blind_to_a_time_shift():
    """The paper's point: shifting one stream against the other changes nothing for TalkNet's
    attention (a permutation of the keys), and changes the output with the encoding."""
    torch.manual_seed(1)
    query, key_value = torch.randn(2, 10, DIM), torch.randn(2, 10, DIM)
    shifted = key_value.roll(3, dims=1)
    for enabled in (False, True):
        module = layer(enabled)
        with torch.no_grad():
            gap = (module(query, key_value) - module(query, shifted)).abs().max()
        assert bool(gap > 1e-4) == enabled


def test_padded_keys_are_ignored():
    torch.manual_seed(2)
    module = layer(True)
    query, key_value = torch.randn(1, 6, DIM), torch.randn(1, 6, DIM)
    padded = torch.cat([key_value, 100 * torch.randn(1, 4, DIM)], dim=1)
    ignore = torch.zeros(1, 10, dtype=torch.bool)
    ignore[:, 6:] = True
    with torch.no_grad():
        expected = module(query, key_value)
        got = module(query, padded, ignore)
    assert torch.allclose(expected, got, atol=1e-5)
