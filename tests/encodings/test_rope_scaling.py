"""RoPE's scaling variants: each formula against its paper's, written out here, and plain RoPE at scale 1."""

import math

import pytest
import torch

from pe_bench.encodings.rope import rope_inv_freq
from pe_bench.encodings.rope_scaling import (
    ROPE_SCALING, RoPELlama3, RoPELongRoPE, RoPEYaRN, llama3_inv_freq, longrope_attention_scale, longrope_inv_freq,
    ntk_base, pi_inv_freq, scaled_rope, yarn_attention_scale, yarn_inv_freq,
)
from pe_bench.errors import InputError
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


def test_llama3_at_the_boundary_wavelengths_by_hand():
    """L = 64, low_freq_factor 1, high_freq_factor 4: low_wl = 64, high_wl = 16; factor 8."""
    wavelengths = torch.tensor([8.0, 16.0, 32.0, 64.0, 128.0], dtype=torch.float64)
    inv = 2 * math.pi / wavelengths
    got = llama3_inv_freq(inv, train_len=64, factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0)
    # 8 < high_wl: kept; 16 = high_wl: s' = (64/16 - 1)/3 = 1, kept; 32: s' = (2 - 1)/3 = 1/3,
    # (2/3) theta/8 + (1/3) theta = (5/12) theta; 64 = low_wl: s' = 0, theta/8; 128 > low_wl: theta/8
    expected = [2 * math.pi / 8, 2 * math.pi / 16, 2 * math.pi / 32 * 5 / 12, 2 * math.pi / 64 / 8,
                2 * math.pi / 128 / 8]
    assert got.tolist() == pytest.approx(expected, rel=1e-12)
    assert got.tolist() == pytest.approx([0.785398, 0.392699, 0.0818123, 0.0122718, 0.00613592], rel=1e-5)


def test_llama3_defaults_are_hugging_faces_and_its_factors_are_checked():
    inv = rope_inv_freq(64)
    assert torch.equal(llama3_inv_freq(inv, 64), llama3_inv_freq(inv, 64, 8.0, 1.0, 4.0))
    with pytest.raises(InputError):
        llama3_inv_freq(inv, 64, 8.0, low_freq_factor=4.0, high_freq_factor=1.0)


def test_longrope_divides_each_frequency_by_its_factor():
    inv = torch.tensor([1.0, 0.1, 0.01], dtype=torch.float64)
    assert longrope_inv_freq(inv, [1.0, 2.0, 4.0]).tolist() == pytest.approx([1.0, 0.05, 0.0025])
    for wrong in ([1.0, 2.0], [1.0, 2.0, 3.0, 4.0]):
        with pytest.raises(InputError, match="one factor per frequency pair \\(3\\)"):
            longrope_inv_freq(inv, wrong)
    with pytest.raises(InputError, match="> 0"):
        longrope_inv_freq(inv, [1.0, 0.0, 2.0])


def test_longrope_attention_scale_by_hand():
    assert longrope_attention_scale(4.0, 16) == pytest.approx(math.sqrt(1.5))  # 1 + ln 4 / ln 16 = 1.5
    assert longrope_attention_scale(4.0, 16) == pytest.approx(1.2247449)
    assert longrope_attention_scale(1.0, 16) == 1.0 and longrope_attention_scale(0.5, 16) == 1.0


def test_the_longrope_encoding_uses_its_factors_and_scales_queries_and_keys():
    given = RoPELongRoPE(d_model=32, n_heads=4, max_len=16, train_len=16, scale=4.0, factors=[1, 2, 4, 8])
    assert torch.allclose(given.inv_freq, rope_inv_freq(8) / torch.tensor([1.0, 2.0, 4.0, 8.0], dtype=torch.float64))
    rotation = given.qk_transform(torch.arange(40), torch.float64)
    assert torch.allclose(rotation.cos ** 2 + rotation.sin ** 2, torch.full_like(rotation.cos, 1.5))
    default = RoPELongRoPE(d_model=32, n_heads=4, max_len=16, train_len=16, scale=4.0)  # 4 pairs: 4^(k/3)
    assert (rope_inv_freq(8) / default.inv_freq).tolist() == pytest.approx([1.0, 4 ** (1 / 3), 4 ** (2 / 3), 4.0])
    with pytest.raises(InputError):
        RoPELongRoPE(d_model=32, n_heads=4, max_len=16, train_len=16, scale=4.0, factors=[1, 2])


def test_llama3_encoding_passes_its_options_on():
    enc = RoPELlama3(d_model=32, n_heads=4, max_len=16, train_len=16, scale=8.0, low_freq_factor=2.0,
                     high_freq_factor=8.0)
    assert torch.equal(enc.inv_freq, llama3_inv_freq(rope_inv_freq(8), 16, 8.0, 2.0, 8.0))
    assert enc.attention_scale == 1.0
