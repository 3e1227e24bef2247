"""The generic model: explicit positions, offsets, presets and configuration errors."""

import pytest
import torch

from pe_bench.backends import BACKENDS
from pe_bench.errors import InputError
from pe_bench.model import PRESETS, Transformer, build_model, preset

from conftest import ALL_ENCODINGS, tiny_model


@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_explicit_arange_positions_equal_default(name, tokens):
    model = tiny_model(name).eval()
    with torch.no_grad():
        assert torch.equal(model(tokens), model(tokens, positions=torch.arange(tokens.shape[1])))


def test_same_seed_same_model():
    a, b = build_model("t5", "tiny", seed=3), build_model("t5", "tiny", seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_presets_and_overrides():
    assert set(PRESETS) == {"tiny", "quick", "standard", "large"}
    assert preset("quick", n_layers=2).n_layers == 2
    with pytest.raises(InputError, match="valid: tiny, quick, standard, large"):
        preset("huge")


def test_unknown_backend_is_input_error():
    with pytest.raises(InputError, match=f"valid: {', '.join(BACKENDS)}"):
        build_model("rope", "tiny", backend="triton")
    model = build_model("rope", "tiny")
    with pytest.raises(InputError):
        model.backend = "nope"


def test_encoding_instance_can_be_passed(tokens):
    from pe_bench.encodings.rope import RoPE

    config = preset("tiny")
    model = Transformer(config, RoPE(d_model=config.d_model, n_heads=config.n_heads, max_len=64, base=500.0))
    assert model.encoding.base == 500.0
    assert model(tokens).shape == (2, tokens.shape[1], 256)


def test_wrong_positions_shape_is_input_error(tokens):
    with pytest.raises(InputError, match="positions must have shape"):
        build_model("nope", "tiny")(tokens, positions=torch.arange(3))
