"""RoPE's scaling variants: each formula against its paper's, written out here, and plain RoPE at scale 1."""

import math

import pytest
import torch

from pe_bench.encodings.rope import rope_inv_freq
from pe_bench.encodings.rope_scaling import (
    ROPE_SCALING, RoPEYaRN, ntk_base, pi_inv_freq, scaled_rope, yarn_attention_scale, yarn_inv_freq,
)
from pe_bench.model import build_model


@pytest.mark.parametrize("variant", list(ROPE_SCALING))
def test_each_rope_variant_equals_plain_rope_at_scale_one_and_differs_above(variant):
    model = build_model("rope", "tiny", max_len=16).eval()
    rope = model.encoding
    positions = torch.arange(64)
    at_one = scaled_rope(variant, rope, train_len=16, scale=1.0)
    at_four = scaled_rope(variant, rope, train_len=16, scale=4.0)
    plain = rope.qk_transform(positions, torch.float32)
    for scaled, equal in ((at_one.qk_transform(positions[:16], torch.float32), True),
                          (at_four.qk_transform(positions, torch.float32), False)):
        n = scaled.cos.shape[0]
        same = torch.allclose(scaled.cos, plain.cos[:n], atol=1e-6) and torch.allclose(scaled.sin, plain.sin[:n],
                                                                                       atol=1e-6)
        assert same == equal
    tokens = torch.randint(0, 256, (1, 64))
    with torch.no_grad():
        before = model(tokens)
        model.encoding = at_four
        after = model(tokens)
    assert (before - after).abs().max() > 1e-6  # the model sees the difference


def test_scaling_formulas():
    inv = rope_inv_freq(64)
    assert torch.allclose(pi_inv_freq(inv, 4.0), inv / 4)
    assert math.isclose(ntk_base(10000.0, 64, 4.0), 10000.0 * 4 ** (64 / 62))
    assert math.isclose(yarn_attention_scale(math.e), 1.1)
    yarn = yarn_inv_freq(inv, train_len=64, scale=4.0)
    turns = 64 * inv / (2 * math.pi)
    assert torch.allclose(yarn[turns > 32], inv[turns > 32])  # fast dimensions kept
    assert torch.allclose(yarn[turns < 1], inv[turns < 1] / 4)  # slow dimensions interpolated


@pytest.mark.parametrize("scale", [1.0, 2.0, 4.0, 16.0])
def test_yarn_multiplies_queries_and_keys_by_its_temperature(scale):
    """YaRN scales q and k by sqrt(1/t) = 0.1 ln s + 1, so every cos/sin pair has that length,
    and the logits grow by its square (Peng et al. 2023)."""
    yarn = RoPEYaRN(d_model=32, n_heads=4, max_len=16, train_len=16, scale=scale)
    rotation = yarn.qk_transform(torch.arange(40), torch.float64)
    factor = 0.1 * math.log(scale) + 1.0
    assert torch.allclose(rotation.cos ** 2 + rotation.sin ** 2, torch.full_like(rotation.cos, factor ** 2))
    q, k = torch.randn(2, 1, 1, 1, 8, dtype=torch.float64).unbind(0)
    at_zero = yarn.qk_transform(torch.tensor([0]), torch.float64)  # no rotation at position 0: the factor alone
    assert torch.allclose((at_zero.queries(q) * at_zero.keys(k)).sum(), factor ** 2 * (q * k).sum())


def test_position_interpolation_is_plain_rope_at_positions_divided_by_the_scale():
    """PI: rotating position p at scale s equals plain RoPE at p / s (Chen et al. 2023)."""
    model = build_model("rope", "tiny").eval()
    pi = scaled_rope("rope-pi", model.encoding, train_len=16, scale=4.0)
    positions = torch.tensor([0, 4, 8, 40])
    scaled = pi.qk_transform(positions, torch.float64)
    plain = model.encoding.qk_transform(positions // 4, torch.float64)
    assert torch.allclose(scaled.cos, plain.cos) and torch.allclose(scaled.sin, plain.sin)
