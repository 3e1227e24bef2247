"""Properties every registered encoding must have; a new encoding is covered by adding it to the registry."""

import pytest
import torch

from pe_bench.encodings import ENCODINGS, Family, build_encoding, encoding_class
from pe_bench.errors import InputError

from conftest import ALL_ENCODINGS


def test_registry_names_the_six():
    assert set(ENCODINGS) == {"sinusoidal", "learned", "t5", "rope", "alibi", "nope"}


def test_unknown_name_lists_valid_ones():
    with pytest.raises(InputError, match="valid: sinusoidal, learned, t5, rope, alibi, nope"):
        encoding_class("xpos")


@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_declares_family_description_and_answers_only_its_hook(name):
    enc = build_encoding(name, d_model=32, n_heads=4, max_len=64)
    assert isinstance(enc.family, Family) and enc.description and enc.name == name
    positions = torch.arange(5)
    hooks = {
        Family.EMBEDDING: enc.embedding(positions, torch.float32),
        Family.ROTARY: enc.rotation(positions, torch.float32),
        Family.BIAS: enc.attention_bias(torch.float32),
    }
    for family, result in hooks.items():
        assert (result is not None) == (family == enc.family)
    assert (enc.max_len is not None) == (name == "learned")


@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_hooks_depend_on_positions_not_on_order_of_call(name):
    """Rows for positions [7, 8] equal rows 7 and 8 of positions 0..9: no hidden arange."""
    enc = build_encoding(name, d_model=32, n_heads=4, max_len=64)
    full, part = torch.arange(10), torch.tensor([7, 8])
    if enc.family is Family.EMBEDDING:
        assert torch.equal(enc.embedding(part, torch.float32), enc.embedding(full, torch.float32)[7:9])
    if enc.family is Family.ROTARY:
        assert torch.equal(enc.rotation(part, torch.float32).cos, enc.rotation(full, torch.float32).cos[7:9])
    if enc.family is Family.BIAS:
        bias = enc.attention_bias(torch.float32)
        assert torch.equal(bias.materialize(part, full), bias.materialize(full, full)[:, 7:9])
