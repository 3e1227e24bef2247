"""p-RoPE: which pairs rotate, p = 1 is RoPE exactly, and p outside (0, 1] is refused."""

import pytest
import torch

from pe_bench.encodings import build_encoding
from pe_bench.encodings.p_rope import p_rope_inv_freq
from pe_bench.encodings.rope import rope_inv_freq
from pe_bench.errors import InputError
from pe_bench.model import build_model


def test_keeps_the_highest_frequencies_and_zeroes_the_lowest():
    full = rope_inv_freq(16)  # 8 pairs, theta_0 = 1 the highest
    quarter = p_rope_inv_freq(16, 0.25)
    assert torch.equal(quarter[:2], full[:2]) and torch.equal(quarter[2:], torch.zeros(6, dtype=torch.float64))
    assert (p_rope_inv_freq(16, 0.5) > 0).sum() == 4
    assert (p_rope_inv_freq(16, 0.01) > 0).sum() == 1  # at least one pair rotates
    assert torch.equal(p_rope_inv_freq(16, 1.0), full)


def test_unrotated_pairs_are_left_as_they_are():
    enc = build_encoding("p-rope", d_model=64, n_heads=4, max_len=64)  # head_dim 16, p = 0.25: pairs 0 and 1 rotate
    x = torch.randn(1, 4, 10, 16)
    y = enc.qk_transform(torch.arange(100, 110), torch.float32).queries(x)
    moved = [k for k in range(8) if not torch.equal(y[..., [k, k + 8]], x[..., [k, k + 8]])]
    assert moved == [0, 1]  # halves pairing: pair k is dims (k, k + 8)


def test_p_one_is_rope_exactly():
    positions = torch.tensor([0, 3, 7, 1000])
    p_one = build_encoding("p-rope", d_model=32, n_heads=4, max_len=64, p=1.0).qk_transform(positions, torch.float32)
    rope = build_encoding("rope", d_model=32, n_heads=4, max_len=64).qk_transform(positions, torch.float32)
    assert torch.equal(p_one.cos, rope.cos) and torch.equal(p_one.sin, rope.sin)
    tokens = torch.randint(0, 256, (2, 24))
    with torch.no_grad():
        a = build_model("p-rope", "tiny", seed=0, encoding_options={"p": 1.0}).eval()(tokens)
        b = build_model("rope", "tiny", seed=0).eval()(tokens)
    assert torch.equal(a, b)


@pytest.mark.parametrize("p", [0, -0.5, 1.5, float("nan"), "half"])
def test_p_outside_zero_one_is_an_input_error(p):
    with pytest.raises(InputError, match="in \\(0, 1\\]") as error:
        build_encoding("p-rope", d_model=32, n_heads=4, max_len=64, p=p)
    assert "\n" not in str(error.value)
