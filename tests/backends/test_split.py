"""A bias constant far away, split into a fused far part and a near band (split.py): exact
against eager (outputs and every gradient, the bias's own included), no dense mask, the
flash kernel, and the dense path wherever the split's assumptions fail."""


import pytest
import torch

from pe_bench.backends import AttentionInputs
from pe_bench.backends import split
from pe_bench.backends.inputs import AttentionInputs as Inputs
from pe_bench.check.models import decode
from pe_bench.encodings import ENCODINGS, Family

from conftest import exact_in_float64, sdpa_training_matches_eager, sharpened, tiny_encoding, tiny_model

BIAS_ENCODINGS = [n for n, cls in ENCODINGS.items() if cls.family is Family.BIAS]
SPLITTING = [n for n in BIAS_ENCODINGS if tiny_encoding(n).attention_bias(torch.float32).far_constant() is not None]


def _width(name: str) -> int:
    return tiny_encoding(name).attention_bias(torch.float32).far_constant()[0].shape[-1]


def _no_dense_mask(monkeypatch):
    def refuse(self, dtype):  # noqa: ANN001, ANN202
        raise AssertionError("the dense mask was built on the split path")

    monkeypatch.setattr(Inputs, "_build_dense_mask", refuse)


def test_some_registered_encoding_splits():
    assert SPLITTING  # otherwise every test below is vacuous


@pytest.mark.parametrize("name", SPLITTING)
def test_inference_and_training_both_split(name, monkeypatch):
    model = tiny_model(name, backend="sdpa", max_len=512)
    tokens = torch.randint(0, 256, (1, _width(name) + 20))
    _no_dense_mask(monkeypatch)
    calls = []
    real = split._SplitAttention.apply
    monkeypatch.setattr(split._SplitAttention, "apply", lambda *a: calls.append(1) or real(*a))
    with torch.no_grad():
        model.eval()(tokens)
    assert len(calls) == model.config.n_layers  # every layer of a forward pass, no gradient
    model.train().loss(tokens[:, :-1], tokens[:, 1:]).backward()
    assert len(calls) == 2 * model.config.n_layers


@pytest.mark.parametrize("name", SPLITTING)
def test_split_is_exact_in_float64_with_every_gradient(name):
    """The Function alone against autograd through the dense bias: forward and backward to round-off."""
    T = _width(name) + 150  # far part and more than one band block, the last one ragged
    exact_in_float64(name, T, lambda q, k, v, bias: split._SplitAttention.apply(q, k, v, *bias.far_constant()))


@pytest.mark.parametrize("name", SPLITTING)
def test_split_matches_eager_in_training_without_a_dense_mask(name, monkeypatch):
    tokens = torch.randint(0, 256, (1, _width(name) + 21))
    sdpa_training_matches_eager(name, tokens, lambda: _no_dense_mask(monkeypatch), 1e-4)


@pytest.mark.parametrize("name", SPLITTING)
def test_split_prefill_then_cached_decoding_and_window_policies_match_eager(name):
    T = _width(name) + 12
    tokens = torch.randint(0, 256, (1, T))
    model = sharpened(tiny_model(name)).eval()
    for policy, sinks, capacity, prefill in (("full", 0, T, T - 6), ("window", 0, 16, 8), ("sinks", 2, 16, 8)):
        out = {}
        for backend in ("eager", "sdpa"):
            model.backend = backend
            with torch.no_grad():
                out[backend] = decode(model, tokens[:, :T if policy == "full" else 28],
                                      model.new_cache(1, capacity, policy=policy, sinks=sinks), prefill)
        assert (out["sdpa"] - out["eager"]).abs().max() <= 1e-4, policy


@pytest.mark.parametrize("name", SPLITTING)
def test_split_runs_the_flash_kernel(name):
    from torch.profiler import profile

    model = tiny_model(name, backend="sdpa")
    tokens = torch.randint(0, 256, (1, _width(name) + 9))
    with profile() as prof:
        model.loss(tokens[:, :-1], tokens[:, 1:]).backward()
    kernels = {e.key for e in prof.key_averages()}
    assert "aten::_scaled_dot_product_flash_attention_for_cpu" in kernels
    assert "aten::_scaled_dot_product_flash_attention_for_cpu_backward" in kernels


def _inputs(name: str, q_pos, k_pos=None, **kw) -> AttentionInputs:  # noqa: ANN001
    k_pos = q_pos if k_pos is None else k_pos
    return AttentionInputs(q_pos=q_pos, k_pos=k_pos, kv_len=len(k_pos), causal=kw.pop("causal", True),
                           bias=tiny_encoding(name).attention_bias(torch.float32), **kw)


@pytest.mark.parametrize("name", SPLITTING)
def test_split_declines_where_it_would_be_wrong(name):
    q = torch.zeros(1, 1, 6, 8)
    t = torch.arange(6)
    assert split.split_plan(_inputs(name, t), q) is not None
    assert split.split_plan(_inputs(name, t * 2), q) is None  # positions with gaps: slot distance is not distance
    assert split.split_plan(_inputs(name, t[3:], t), q[..., 3:, :]) is None  # queries after cached keys
    assert split.split_plan(_inputs(name, t[5:], t), q[..., 5:, :]) is None  # one decoding query: the dense row
    assert split.split_plan(_inputs(name, t, causal=False), q) is None
    assert split.split_plan(_inputs(name, t, allowed=torch.ones(6, 6, dtype=torch.bool)), q) is None
    assert split.split_plan(_inputs(name, t), q.bfloat16()) is None


def test_without_the_private_ops_the_dense_path_runs_and_agrees(monkeypatch):
    name = SPLITTING[0]
    model = tiny_model(name, backend="sdpa").eval()
    tokens = torch.randint(0, 256, (1, _width(name) + 5))
    with torch.no_grad():
        fast = model(tokens)
        from pe_bench.backends import causal_bias
        for module in (split, causal_bias):  # neither fused bias path finds the ops
            monkeypatch.setattr(module, "missing_flash_ops", lambda device: "no flash ops in this torch")
        built = []
        real = Inputs._build_dense_mask
        monkeypatch.setattr(Inputs, "_build_dense_mask", lambda self, dtype: built.append(1) or real(self, dtype))
        dense = model(tokens)
    assert built and (fast - dense).abs().max() <= 1e-5
