"""CoPE against its formula: positions of a hand-made gate matrix, the interpolation, ring-cache order, the clamp."""

import pytest
import torch

from pe_bench.encodings.cope import CoPE, cope_bias, cope_positions, interpolate
from pe_bench.errors import InputError

from conftest import tiny_model

GATES = torch.tensor([[0.5, 0.0, 0.0],   # query 0 sees key 0
                      [1.0, 0.2, 0.0],   # query 1 sees keys 0, 1
                      [0.3, 0.6, 0.9]])  # query 2 sees keys 0, 1, 2


def test_positions_count_the_gates_from_the_key_up_to_the_query():
    by_hand = torch.tensor([[0.5, 0.0, 0.0],
                            [1.2, 0.2, 0.0],
                            [1.8, 1.5, 0.9]])  # p_ij = sum_{t=j..i} g_it
    assert torch.allclose(cope_positions(GATES), by_hand, atol=1e-6)


def test_keys_out_of_time_order_are_counted_in_the_order_of_their_positions():
    order = torch.tensor([2, 0, 1])  # a ring cache holding keys 2, 0, 1 in its slots 0, 1, 2
    shuffled = cope_positions(GATES[:, order], k_pos=order)
    assert torch.allclose(shuffled, cope_positions(GATES)[:, order], atol=1e-6)


def test_interpolation_is_linear_between_the_integers_around_a_position():
    z = torch.tensor([[0.0, 10.0, 20.0, 30.0]])
    assert interpolate(z, torch.tensor([[1.25, 2.0, 0.0, 3.0]])).tolist() == [[12.5, 20.0, 0.0, 30.0]]


def test_the_bias_reads_the_table_at_each_position_dotted_with_the_query_and_clamps_at_npos():
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 3, 4), torch.randn(1, 1, 3, 4)
    table = torch.randn(3, 4)  # npos = 3: positions past 2 read e[2]
    visible = torch.tril(torch.ones(3, 3, dtype=torch.bool))
    bias = cope_bias(q, k, table, visible)[0, 0]
    gates = torch.sigmoid(q[0, 0] @ k[0, 0].T / 2.0) * visible
    for i in range(3):
        for j in range(i + 1):
            p = min(float(gates[i, j:i + 1].sum()), 2.0)
            lo, hi = int(p), min(int(p) + 1, 2)
            e = table[lo] + (p - lo) * (table[hi] - table[lo])  # the table interpolated, then dotted with q_i
            assert bias[i, j].item() == pytest.approx(float(q[0, 0, i] @ e), abs=1e-5)
    wide = cope_bias(q * 0 + 10, k * 0 + 10, table, visible)[0, 0]  # every gate open: p = i - j + 1, clamped
    assert wide[2, 0].item() == pytest.approx(float(10 * table[2].sum()), abs=1e-4)


def test_the_table_is_one_per_layer_and_starts_at_zero_as_in_the_paper():
    model = tiny_model("cope", encoding_options={"init_std": 0.0})
    tables = [block.attention.context.table for block in model.blocks]
    assert len({id(t) for t in tables}) == len(tables) and all(bool((t == 0).all()) for t in tables)
    assert tables[0].shape == (64, model.config.d_model // model.config.n_heads)


@pytest.mark.parametrize("npos", [1, 0, 2.5, True])
def test_npos_must_be_an_integer_of_at_least_two(npos):
    with pytest.raises(InputError, match="npos"):
        CoPE(d_model=32, n_heads=4, max_len=64, npos=npos)
