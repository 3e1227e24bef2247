"""Sandwich against its formula, worked out by hand for d' = 4 and two heads."""

import math

import pytest
import torch

from pe_bench.encodings import build_encoding
from pe_bench.encodings.sandwich import sandwich_bias
from pe_bench.errors import InputError


def test_by_hand_at_distances_0_1_and_10():
    # d' = 4: cos(d / 10000^(2/4)) + cos(d / 10000^(4/4)) - 2 = cos(d/100) + cos(d/10000) - 2,
    # divided by 8h/H = 4 (head 1) and 8 (head 2)
    bias = sandwich_bias(torch.tensor([0, 1, 10]), dim=4, n_heads=2)
    assert bias.shape == (2, 3) and bias.dtype == torch.float64
    assert torch.equal(bias[:, 0], torch.zeros(2, dtype=torch.float64))
    # d = 1: 0.99995000 + 0.99999999 - 2 = -5.0004583e-5; d = 10: 0.99500417 + 0.99999950 - 2 = -4.9963347e-3
    assert bias[0, 1:].tolist() == pytest.approx([-5.0004583e-5 / 4, -4.9963347e-3 / 4], rel=1e-7)
    assert bias[1, 1:].tolist() == pytest.approx([-5.0004583e-5 / 8, -4.9963347e-3 / 8], rel=1e-7)


def test_even_in_the_distance_and_never_above_zero():
    d = torch.arange(-300, 301)
    bias = sandwich_bias(d, dim=16, n_heads=4)
    assert torch.equal(bias, bias.flip(-1)) and (bias <= 0).all()
    assert bias.shape == (4, 601)


def test_odd_dim_is_refused():
    with pytest.raises(ValueError):
        sandwich_bias(torch.tensor([1]), dim=5, n_heads=2)
    with pytest.raises(InputError):
        build_encoding("sandwich", d_model=32, n_heads=4, max_len=64, dim=7)


def test_the_encoding_reads_the_formula_at_the_head_dim_for_any_positions():
    enc = build_encoding("sandwich", d_model=32, n_heads=4, max_len=64)
    bias = enc.attention_bias(torch.float32)
    q_pos, k_pos = torch.tensor([3, 50, 2**20]), torch.tensor([0, 3, 49, 2**20 - 7])
    dense = bias.materialize(q_pos, k_pos)
    expected = sandwich_bias(q_pos[:, None] - k_pos[None, :], dim=8, n_heads=4)  # head_dim 32/4
    assert dense.shape == (4, 3, 4) and torch.allclose(dense.double(), expected, atol=1e-6)
    mod = bias.score_mod(q_pos, k_pos)
    for h in range(4):
        for a in range(3):
            for b in range(4):
                got = mod(torch.tensor(0.0), torch.tensor(0), torch.tensor(h), torch.tensor(a), torch.tensor(b))
                assert got.item() == pytest.approx(dense[h, a, b].item(), abs=1e-7)


def test_a_chosen_dim_is_used():
    enc = build_encoding("sandwich", d_model=32, n_heads=4, max_len=64, dim=64)
    dense = enc.attention_bias(torch.float64).materialize(torch.tensor([10]), torch.tensor([0]))
    expected = (sum(math.cos(10 / 10000 ** (2 * k / 64)) for k in range(1, 33)) - 32) / (8 / 4)
    assert dense[0, 0, 0].item() == pytest.approx(expected, rel=1e-12)
