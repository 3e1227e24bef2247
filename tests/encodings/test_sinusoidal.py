import math

import torch

from pe_bench.encodings.sinusoidal import Sinusoidal, sinusoidal_table


def reference(p: int, i: int, dim: int, base: float = 10000.0) -> float:
    k = i // 2
    angle = p / base ** (2 * k / dim)
    return math.sin(angle) if i % 2 == 0 else math.cos(angle)


def test_matches_the_paper_formula_interleaved():
    table = sinusoidal_table(50, 16)
    assert table.shape == (50, 16) and table.dtype == torch.float32
    for p in (0, 1, 7, 49):
        for i in range(16):
            assert abs(table[p, i].item() - reference(p, i, 16)) < 1e-6


def test_hand_worked_values():
    table = sinusoidal_table(2, 4)
    # position 0: sin 0 = 0, cos 0 = 1 in every pair
    assert torch.equal(table[0], torch.tensor([0.0, 1.0, 0.0, 1.0]))
    # position 1: pair 0 has angle 1, pair 1 has angle 1/100
    expected = torch.tensor([math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)])
    assert torch.allclose(table[1], expected, atol=1e-7)


def test_values_bounded():
    table = sinusoidal_table(5000, 64)
    assert table.abs().max() <= 1.0


def test_same_position_same_vector_whatever_the_length():
    assert torch.equal(sinusoidal_table(10, 32)[:5], sinusoidal_table(5, 32))
    enc = Sinusoidal(d_model=32, n_heads=4, max_len=64)
    rows = enc.embedding(torch.tensor([3, 9, 70000]), torch.float32)  # the last is past the cached rows
    assert torch.allclose(rows[:2], sinusoidal_table(10, 32)[[3, 9]])
    assert torch.allclose(rows[2], torch.tensor([reference(70000, i, 32) for i in range(32)]), atol=1e-6)


def test_distinct_positions_get_distinct_vectors():
    table = sinusoidal_table(2000, 32).double()
    distances = torch.cdist(table, table)
    distances.fill_diagonal_(float("inf"))
    assert distances.min() > 1e-3


def test_shift_is_a_fixed_rotation_per_pair():
    dim, k = 16, 5
    table = sinusoidal_table(100, dim).double()
    inv_freq = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    for pair in range(dim // 2):
        b = k * inv_freq[pair]
        rotation = torch.tensor([[math.cos(b), math.sin(b)], [-math.sin(b), math.cos(b)]], dtype=torch.float64)
        now = table[:90, 2 * pair: 2 * pair + 2]  # (sin a, cos a)
        later = table[k: 90 + k, 2 * pair: 2 * pair + 2]  # (sin(a+b), cos(a+b))
        assert torch.allclose(now @ rotation.T, later, atol=1e-6)
