"""The example plugin examples/gaussian.py: loaded from its file, checked against its formula."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

from pe_bench.encodings.base import AttentionBias, Family, PositionalEncoding
from pe_bench.model import Transformer, preset

PATH = Path(__file__).resolve().parents[2] / "examples" / "gaussian.py"


@pytest.fixture(scope="module")
def gaussian():
    """The module, loaded the way a plugin is: from its path, not from a package."""
    spec = importlib.util.spec_from_file_location("gaussian_example", PATH)
    module = importlib.util.module_from_spec(spec)
    # flex_attention traces the score_mod with dynamo, which looks its module up in sys.modules
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def model(gaussian, backend: str, causal: bool = True, seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    encoding = gaussian.Gaussian(d_model=32, n_heads=4, max_len=256, causal=causal)
    return Transformer(preset("tiny", backend=backend, causal=causal), encoding)


def test_the_file_imports_only_the_contract_and_torch():
    imports = [line.split()[1] for line in PATH.read_text().splitlines() if line.startswith(("import ", "from "))]
    assert set(imports) <= {"__future__", "torch", "pe_bench.encodings.base"}


def test_declares_a_relative_bias(gaussian):
    cls = gaussian.Gaussian
    assert issubclass(cls, PositionalEncoding) and issubclass(gaussian.GaussianDistanceBias, AttentionBias)
    assert cls.name == "gaussian" and cls.family is Family.BIAS and cls.shift_invariant and cls.description


def test_materialize_is_the_formula(gaussian):
    enc = gaussian.Gaussian(d_model=32, n_heads=4, max_len=256)
    q_pos, k_pos = torch.tensor([0, 5, 40]), torch.tensor([0, 3, 5, 39, 60])
    dense = enc.attention_bias(torch.float32).materialize(q_pos, k_pos)
    assert dense.shape == (4, 3, 5)
    for h in range(4):
        r1, r2 = max(enc.r1[h].item(), 0.01), max(enc.r2[h].item(), 0.01)
        for a, i in enumerate(q_pos.tolist()):
            for b, j in enumerate(k_pos.tolist()):
                assert dense[h, a, b].item() == pytest.approx(-r1 * (1 - math.exp(-r2 * (i - j) ** 2)), abs=1e-5)


def test_score_mod_is_materialize(gaussian):
    bias = gaussian.Gaussian(d_model=32, n_heads=4, max_len=256).attention_bias(torch.float32)
    q_pos, k_pos = torch.tensor([2, 9]), torch.tensor([0, 9, 30])
    dense, mod = bias.materialize(q_pos, k_pos), bias.score_mod(q_pos, k_pos)
    for h in range(4):
        for a in range(2):
            for b in range(3):
                got = mod(torch.tensor(0.0), torch.tensor(0), torch.tensor(h), torch.tensor(a), torch.tensor(b))
                assert torch.allclose(got, dense[h, a, b], atol=1e-6)


@pytest.mark.parametrize("causal", [True, False])
def test_backends_agree(gaussian, causal, tokens):
    outputs = {}
    with torch.no_grad():
        for backend in ("eager", "sdpa", "flex"):
            outputs[backend] = model(gaussian, backend, causal).eval()(tokens)
    for backend in ("sdpa", "flex"):
        assert (outputs[backend] - outputs["eager"]).abs().max() <= 1e-5, backend


def test_gradients_reach_r1_and_r2(gaussian, tokens):
    for backend in ("eager", "sdpa"):
        m = model(gaussian, backend)
        m.loss(tokens[:, :-1], tokens[:, 1:]).backward()
        for p in (m.encoding.r1, m.encoding.r2):
            assert p.grad is not None and torch.isfinite(p.grad).all() and (p.grad != 0).all(), backend


def test_values_are_clamped_at_one_hundredth(gaussian):
    enc = gaussian.Gaussian(d_model=32, n_heads=4, max_len=256)
    with torch.no_grad():
        enc.r1[0] = -3.0
        enc.r2[1] = 0.0
    bias = enc.attention_bias(torch.float32)
    assert bias.r1[0].item() == pytest.approx(0.01) and bias.r2[1].item() == pytest.approx(0.01)
    assert torch.equal(bias.r1[1:], enc.r1[1:].detach()) and torch.equal(bias.r2[2:], enc.r2[2:].detach())
    dense = bias.materialize(torch.tensor([10]), torch.tensor([0]))
    assert dense[0, 0, 0].item() == pytest.approx(-0.01 * (1 - math.exp(-enc.r2[0].item() * 100)), rel=1e-5)
