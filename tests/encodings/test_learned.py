import pytest
import torch

from pe_bench.encodings.learned import Learned
from pe_bench.errors import PositionOutOfRange
from pe_bench.model import build_model


def test_lookup_is_the_table_row():
    enc = Learned(d_model=16, n_heads=2, max_len=8)
    rows = enc.embedding(torch.tensor([0, 7]), torch.float32)
    assert torch.equal(rows, enc.table.weight[[0, 7]])


@pytest.mark.parametrize("position", [8, 100, -1])
def test_position_outside_table_is_a_named_error(position):
    enc = Learned(d_model=16, n_heads=2, max_len=8)
    with pytest.raises(PositionOutOfRange, match="table of 8 positions"):
        enc.embedding(torch.tensor([0, position]), torch.float32)


def test_model_past_max_len_raises_named_error_not_index_error():
    model = build_model("learned", "tiny", max_len=16)
    with pytest.raises(PositionOutOfRange, match="16 positions"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(PositionOutOfRange):
        model(torch.zeros(1, 2, dtype=torch.long), positions=torch.tensor([15, 16]))
