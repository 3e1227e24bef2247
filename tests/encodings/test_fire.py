"""FIRE against its formula written out here, its claims, and its three backends."""

import math

import pytest
import torch

from pe_bench.encodings.fire import FIRE, fire_bias
from pe_bench.errors import InputError
from pe_bench.model import Transformer, preset

L0 = 16  # the tests' threshold: sequences of 24 tokens run past it


def fire(**kwargs) -> FIRE:
    return FIRE(d_model=32, n_heads=4, max_len=kwargs.pop("max_len", L0), **kwargs)


def moved(enc: FIRE, c: float = 0.3, L: float = 10.5) -> FIRE:
    """``enc`` with c and L away from their initial values, so that each one shows."""
    with torch.no_grad():
        enc.c.fill_(-c)  # used as |c|
        enc.L_multiplier.fill_(L / enc.initial_threshold.item())
    return enc


def by_hand(enc: FIRE, i: int, j: int) -> torch.Tensor:
    """b_h(i, j) for every head, from the paper's formula on the module's parameters (float64)."""
    c = abs(enc.c.item())
    L = max(abs(enc.L_multiplier.item()) * enc.initial_threshold.item(), 1.0)
    psi = lambda x: math.log(c * x + 1)  # noqa: E731
    x = psi(i - j) / (psi(max(L, i)) + 1e-6)
    w1, b1 = enc.mlp[0].weight.double(), enc.mlp[0].bias.double()  # (32, 1), (32,)
    w2 = enc.mlp[2].weight.double()  # (H, 32)
    hidden = torch.relu(w1[:, 0] * x + b1)
    return w2 @ hidden


def model(backend: str, seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(preset("tiny", backend=backend), fire())


def test_starts_at_the_documented_values_and_is_seeded():
    enc = fire(max_len=64)
    assert torch.equal(enc.c_value(), torch.tensor(0.1))  # float32 0.1 exactly
    assert enc.threshold().item() == 64.0
    assert fire(max_len=64, threshold=16).threshold().item() == 16.0
    assert [tuple(p.shape) for p in enc.mlp.parameters()] == [(32, 1), (32,), (4, 32)]
    torch.manual_seed(3)
    a = fire()
    torch.manual_seed(3)
    b = fire()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_claims():
    assert FIRE.name == "fire" and FIRE.causal_only and not FIRE.shift_invariant
    assert FIRE.family.value == "bias" and "Li et al. 2023" in FIRE.description
    with pytest.raises(InputError, match="causal"):
        fire(causal=False)


def test_materialize_is_the_formula():
    enc = moved(fire())  # L = 10.5
    q_pos = torch.tensor([0, 3, 10, 11, 15, 40])  # below L and past it
    k_pos = torch.tensor([0, 2, 3, 9, 10, 11, 15, 30, 40])
    dense = enc.attention_bias(torch.float32).materialize(q_pos, k_pos)
    assert dense.shape == (4, 6, 9) and torch.isfinite(dense).all()  # keys after the query too
    checked = 0
    for a, i in enumerate(q_pos.tolist()):
        for b, j in enumerate(k_pos.tolist()):
            if j <= i:
                assert torch.allclose(dense[:, a, b].double(), by_hand(enc, i, j), atol=1e-5), (i, j)
                checked += 1
    assert checked == 31


def test_the_table_below_L_equals_the_entry_by_entry_formula():
    enc = moved(fire(), L=12.0)
    bias = enc.attention_bias(torch.float32)
    positions = torch.arange(20)  # rows 0..11 through the table, 12..19 entry by entry
    dense = bias.materialize(positions, positions)
    distance = (positions[:, None] - positions[None, :]).clamp(min=0)
    direct = fire_bias(distance, positions[:, None], bias.c, bias.threshold, bias.mlp)
    assert (dense - direct).abs().max() <= 1e-6
    assert torch.allclose(bias.materialize(positions[:12], positions), dense[:, :12])  # all rows below L
    assert torch.allclose(bias.materialize(positions[12:], positions), dense[:, 12:])  # none


def test_a_function_of_distance_below_L_not_past_it():
    bias = moved(fire(), L=10.5).attention_bias(torch.float32)
    keys = torch.arange(4)
    base = bias.materialize(torch.tensor([3, 4, 5]), keys)
    assert torch.allclose(bias.materialize(torch.tensor([3, 4, 5]) + 5, keys + 5), base, atol=1e-6)  # rows 8..10
    far = bias.materialize(torch.tensor([3, 4, 5]) + 20, keys + 20)  # rows 23..25: normalized by psi(i)
    assert (far - base).abs().max() > 1e-3


def test_score_mod_is_materialize():
    enc = moved(fire())
    bias = enc.attention_bias(torch.float32)
    q_pos, k_pos = torch.tensor([2, 9, 30]), torch.tensor([0, 1, 2, 9, 25, 30])
    dense = bias.materialize(q_pos, k_pos)
    mod = bias.score_mod(q_pos, k_pos)
    zero = torch.tensor(0.0)
    for h in range(4):
        for a in range(3):
            for b in range(6):
                got = mod(zero, torch.tensor(0), torch.tensor(h), torch.tensor(a), torch.tensor(b))
                assert torch.allclose(got, dense[h, a, b], atol=1e-6), (h, a, b)


@pytest.mark.parametrize("offset", [0, 2**20 - 24])
def test_backends_agree(offset, tokens):
    """Uncompiled flex runs the score_mod under vmap; 24 tokens run past L = 16."""
    positions = torch.arange(tokens.shape[1]) + offset
    outputs = {}
    with torch.no_grad():
        for backend in ("eager", "sdpa", "flex"):
            outputs[backend] = model(backend).eval()(tokens, positions=positions)
    assert torch.isfinite(outputs["eager"]).all()
    for backend in ("sdpa", "flex"):
        assert (outputs[backend] - outputs["eager"]).abs().max() <= 1e-5, backend


def test_large_positions_are_finite():
    bias = moved(fire()).attention_bias(torch.float32)
    far = torch.tensor([2**20 - 1, 2**20])
    assert torch.isfinite(bias.materialize(far, torch.tensor([0, 2**19, 2**20]))).all()


@pytest.mark.parametrize("T", [12, 24])  # within L (the table alone), past it (both paths)
def test_gradients_reach_every_parameter_and_sdpa_matches_eager(T, tokens):
    tokens = torch.cat([tokens, tokens[:, :1]], dim=1)[:, : T + 1]
    grads = {}
    for backend in ("eager", "sdpa"):
        m = model(backend)
        m.loss(tokens[:, :-1], tokens[:, 1:]).backward()
        grads[backend] = {name: p.grad for name, p in m.encoding.named_parameters()}
    assert set(grads["eager"]) == {"c", "L_multiplier", "mlp.0.weight", "mlp.0.bias", "mlp.2.weight"}
    for name, g in grads["eager"].items():
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0, name
        assert torch.allclose(grads["sdpa"][name], g, rtol=1e-4, atol=1e-9), name
