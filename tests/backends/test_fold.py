"""A bias folded into extra query/key columns (fold.py): exact against eager, no dense mask,
the fused flash kernel, and the dense path wherever the fold's assumptions fail."""

import pytest
import torch

from pe_bench.backends import AttentionInputs
from pe_bench.backends.fold import fold_columns
from pe_bench.backends.inputs import AttentionInputs as Inputs
from pe_bench.check.models import decode
from pe_bench.encodings import ENCODINGS, Family

from conftest import sdpa_training_matches_eager, sharpened, tiny_model

BIAS_ENCODINGS = [n for n, cls in ENCODINGS.items() if cls.family is Family.BIAS]


def _folds(name: str) -> bool:
    bias = tiny_model(name).encoding.attention_bias(torch.float32)
    positions = torch.arange(4)
    return bias.causal_fold(positions, positions) is not None


FOLDING = [n for n in BIAS_ENCODINGS if _folds(n)]


def _no_dense_mask(monkeypatch):
    def refuse(self, dtype):  # noqa: ANN001, ANN202
        raise AssertionError("the dense mask was built on the fused path")

    monkeypatch.setattr(Inputs, "_build_dense_mask", refuse)


def test_some_registered_encoding_folds():
    assert FOLDING  # otherwise every test below is vacuous


@pytest.mark.parametrize("name", FOLDING)
def test_fold_matches_eager_in_training_without_a_dense_mask(name, monkeypatch):
    tokens = torch.randint(0, 256, (2, 41))
    sdpa_training_matches_eager(name, tokens, lambda: _no_dense_mask(monkeypatch), 1e-5)


@pytest.mark.parametrize("name", FOLDING)
def test_fold_matches_eager_for_prefill_and_cached_decoding(name):
    tokens = torch.randint(0, 256, (1, 14))
    model = sharpened(tiny_model(name)).eval()
    for policy, sinks, capacity in (("full", 0, 14), ("window", 0, 8), ("sinks", 2, 8)):
        out = {}
        for backend in ("eager", "sdpa"):
            model.backend = backend
            with torch.no_grad():
                out[backend] = decode(model, tokens, model.new_cache(1, capacity, policy=policy, sinks=sinks), 6)
        assert (out["sdpa"] - out["eager"]).abs().max() <= 1e-4, policy


@pytest.mark.parametrize("name", FOLDING)
def test_fold_runs_the_flash_kernel_not_the_math_one(name):
    from torch.profiler import profile

    model = tiny_model(name, backend="sdpa")
    tokens = torch.randint(0, 256, (2, 17))
    with profile() as prof:
        model.loss(tokens[:, :-1], tokens[:, 1:]).backward()
    kernels = {e.key for e in prof.key_averages()}
    assert "aten::_scaled_dot_product_flash_attention_for_cpu" in kernels
    assert "aten::_scaled_dot_product_attention_math" not in kernels


def _inputs(name: str, q_pos, k_pos=None, **kw) -> AttentionInputs:  # noqa: ANN001
    bias = tiny_model(name).encoding.attention_bias(kw.pop("dtype", torch.float32))
    k_pos = q_pos if k_pos is None else k_pos
    return AttentionInputs(q_pos=q_pos, k_pos=k_pos, kv_len=kw.pop("kv_len", len(k_pos)), causal=True, bias=bias, **kw)


@pytest.mark.parametrize("name", FOLDING)
def test_fold_declines_where_it_would_be_wrong(name):
    t = torch.arange(6)
    assert fold_columns(_inputs(name, t), torch.float32) is not None
    assert fold_columns(_inputs(name, t.flip(0)), torch.float32) is None  # keys after their query
    assert fold_columns(_inputs(name, torch.tensor([3]), t), torch.float32) is None  # a key after the one query
    assert fold_columns(_inputs(name, torch.tensor([5]), t), torch.float32) is None  # one decoding query: its row
    assert fold_columns(_inputs(name, t[3:], t), torch.float32) is None  # queries after cached keys: not plain causal
    assert fold_columns(_inputs(name, t, allowed=torch.ones(6, 6, dtype=torch.bool)), torch.float32) is None
    assert fold_columns(_inputs(name, t), torch.bfloat16) is None  # positions would round


def test_a_bias_that_declares_no_fold_is_materialized_and_agrees(monkeypatch):
    name = FOLDING[0]
    model = tiny_model(name, backend="sdpa").eval()
    bias_type = type(model.encoding.attention_bias(torch.float32))
    tokens = torch.randint(0, 256, (2, 16))
    with torch.no_grad():
        folded = model(tokens)
        monkeypatch.setattr(bias_type, "causal_fold", lambda self, q, k: None)
        built = []
        real = Inputs._materialized
        monkeypatch.setattr(Inputs, "_materialized", lambda self, dtype: built.append(1) or real(self, dtype))
        dense = model(tokens)
    assert built and (folded - dense).abs().max() <= 1e-5
