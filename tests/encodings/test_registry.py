"""Properties every registered encoding must have; a new encoding is covered by adding it to the registry."""

import pytest
import torch

from pe_bench.encodings import ENCODINGS, Family, QKTransform, base_encodings, encoding_class
from pe_bench.errors import InputError, PositionOutOfRange

from conftest import ALL_ENCODINGS, sharpened, tiny_encoding, tiny_model


def test_registry_keys_are_the_class_names_and_variants_name_a_base_encoding():
    for name, cls in ENCODINGS.items():
        assert cls.name == name
        assert cls.variant_of is None or ENCODINGS[cls.variant_of].variant_of is None
    assert base_encodings() == tuple(n for n, c in ENCODINGS.items() if c.variant_of is None)
    assert "nope" in base_encodings()  # every ratio to NoPE needs it


def test_unknown_name_lists_every_registered_one():
    with pytest.raises(InputError) as error:
        encoding_class("no-such-encoding")
    assert f"valid: {', '.join(ENCODINGS)}" in str(error.value)


@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_declares_family_description_claims_and_answers_only_its_hook(name):
    enc = tiny_encoding(name)
    cls = ENCODINGS[name]
    assert isinstance(enc.family, Family) and enc.description and enc.name == name
    assert isinstance(cls.shift_invariant, bool) and isinstance(cls.exact_cache, bool)
    positions = torch.arange(5)
    hooks = {
        Family.EMBEDDING: enc.embedding(positions, torch.float32),
        Family.ROTARY: enc.qk_transform(positions, torch.float32),
        Family.BIAS: enc.attention_bias(torch.float32),
    }
    for family, result in hooks.items():
        assert (result is not None) == (family == enc.family)
    if enc.family is Family.ROTARY:
        assert isinstance(hooks[Family.ROTARY], QKTransform)
        q = torch.randn(1, 4, 5, 8)
        assert hooks[Family.ROTARY].queries(q).shape == q.shape == hooks[Family.ROTARY].keys(q).shape


@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_shift_invariance_is_what_the_encoding_claims(name, tokens):
    """The claim is checked on the model, never inferred from the family: the same tokens at
    positions c.. must give the same logits as at 0.. exactly when ``shift_invariant``."""
    model = sharpened(tiny_model(name)).eval()
    T = tokens.shape[1]
    with torch.no_grad():
        base = model(tokens)
        diffs = [(model(tokens, positions=torch.arange(T) + c) - base).abs().max().item() for c in (37, 200)]
    if ENCODINGS[name].shift_invariant:
        assert max(diffs) <= 1e-4
    else:
        assert min(diffs) > 1e-3


@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_a_declared_maximum_length_is_enforced_with_the_named_error(name, tokens):
    model = tiny_model(name).eval()
    limit = model.encoding.max_len
    if limit is None:
        with torch.no_grad():
            assert torch.isfinite(model(tokens, positions=torch.arange(tokens.shape[1]) + 5000)).all()
        return
    with pytest.raises(PositionOutOfRange, match=str(limit)):
        model(tokens, positions=torch.arange(tokens.shape[1]) + limit)


@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_hooks_depend_on_positions_not_on_order_of_call(name):
    """Rows for positions [7, 9] equal rows 7 and 9 of positions 0..9: no hidden arange."""
    enc = tiny_encoding(name)
    full, part, rows = torch.arange(10), torch.tensor([7, 9]), [7, 9]
    if enc.family is Family.EMBEDDING:
        assert torch.equal(enc.embedding(part, torch.float32), enc.embedding(full, torch.float32)[rows])
    if enc.family is Family.ROTARY:
        x = torch.randn(1, 4, 10, 8)
        assert torch.allclose(enc.qk_transform(part, torch.float32).queries(x[:, :, rows]),
                              enc.qk_transform(full, torch.float32).queries(x)[:, :, rows], atol=1e-6)
    if enc.family is Family.BIAS:
        bias = enc.attention_bias(torch.float32)
        # to 1e-6 as `pe-bench check` does, not bitwise: a bias computed from the distance with a
        # transcendental function (KERPLE's power) may round its last bit differently in a tensor of
        # another size (PyTorch's vectorized body and scalar tail)
        assert torch.allclose(bias.materialize(part, full), bias.materialize(full, full)[:, rows], rtol=0, atol=1e-6)
