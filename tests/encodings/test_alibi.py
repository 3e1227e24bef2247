import pytest
import torch

from pe_bench.encodings.alibi import ALiBi, alibi_slopes


def test_eight_heads():
    assert torch.equal(alibi_slopes(8), torch.tensor([2.0 ** -i for i in range(1, 9)]))


def test_power_of_two_rule():
    assert torch.allclose(alibi_slopes(4), torch.tensor([2.0 ** -2, 2.0 ** -4, 2.0 ** -6, 2.0 ** -8]))
    assert torch.allclose(alibi_slopes(16), torch.tensor([2.0 ** (-0.5 * i) for i in range(1, 17)]))


def test_six_heads_follow_the_paper_rule():
    # slopes for 4 heads, then the 1st and 3rd slopes of the 8-head sequence
    expected = [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3]
    assert torch.allclose(alibi_slopes(6), torch.tensor(expected, dtype=torch.float32))


def test_twelve_heads_follow_the_paper_rule():
    # slopes for 8 heads, then the 1st, 3rd, 5th, 7th of the 16-head sequence (2^-0.5, 2^-1.5, ...)
    expected = [2.0 ** -i for i in range(1, 9)] + [2.0 ** -0.5, 2.0 ** -1.5, 2.0 ** -2.5, 2.0 ** -3.5]
    assert torch.allclose(alibi_slopes(12), torch.tensor(expected))


def test_rejects_zero_heads():
    with pytest.raises(ValueError):
        alibi_slopes(0)


def test_bias_is_minus_slope_times_distance():
    enc = ALiBi(d_model=32, n_heads=4, max_len=64)
    assert not list(enc.parameters())
    dense = enc.attention_bias(torch.float32).materialize(torch.tensor([10]), torch.tensor([0, 7, 10]))
    slopes = alibi_slopes(4)
    expected = -slopes[:, None, None] * torch.tensor([10.0, 3.0, 0.0])
    assert torch.allclose(dense, expected)
