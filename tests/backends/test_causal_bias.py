"""A bias as the CPU flash kernel's mask with the causal flag (causal_bias.py): exact against the
formula (outputs and every gradient, the bias's own included), taken on plain causal steps only,
and never the dense -inf mask there."""

import math

import pytest
import torch

from pe_bench.backends import causal_bias
from pe_bench.backends.inputs import AttentionInputs
from pe_bench.encodings import ENCODINGS, Family

from conftest import sdpa_training_matches_eager, tiny_encoding, tiny_model

BIAS_ENCODINGS = [n for n, cls in ENCODINGS.items() if cls.family is Family.BIAS]


def _unfused(name: str) -> bool:
    bias = tiny_encoding(name).attention_bias(torch.float32)
    t = torch.arange(4)
    return bias.causal_fold(t, t) is None and bias.far_constant() is None


#: bias encodings that neither fold nor split: every plain causal step of theirs takes this path
UNFUSED = [n for n in BIAS_ENCODINGS if _unfused(n)]


def _inputs(name: str, q_pos, k_pos=None, dtype=torch.float32, **kw) -> AttentionInputs:  # noqa: ANN001
    k_pos = q_pos if k_pos is None else k_pos
    return AttentionInputs(q_pos=q_pos, k_pos=k_pos, kv_len=len(k_pos), causal=kw.pop("causal", True),
                           bias=tiny_encoding(name).to(dtype).attention_bias(dtype), **kw)


def test_some_registered_encoding_takes_this_path():
    assert UNFUSED  # otherwise the model-level test below is vacuous


@pytest.mark.parametrize("name", BIAS_ENCODINGS)
def test_exact_in_float64_with_every_gradient_across_blocks(name):
    """The path alone against autograd through softmax(QK^T/sqrt(D) + bias, causal) V, to round-off."""
    enc = tiny_encoding(name, max_len=512).double()
    with torch.no_grad():
        for p in enc.parameters():
            p.normal_(0, 1.0)
    T = causal_bias.CHUNK + 45  # more than one block of the bias's gradient, the last one ragged
    q, k, v = (torch.randn(2, 4, T, 8, dtype=torch.float64, requires_grad=True) for _ in range(3))
    params = [p for p in enc.parameters() if p.requires_grad]
    pos = torch.arange(T)
    dense = enc.attention_bias(torch.float64).materialize(pos, pos).masked_fill(pos[None, :] > pos[:, None], -math.inf)
    reference = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(8) + dense, -1) @ v
    d_out = torch.randn_like(reference)
    expected = torch.autograd.grad(reference, (q, k, v, *params), d_out, allow_unused=True)
    inputs = AttentionInputs(q_pos=pos, k_pos=pos, kv_len=T, causal=True, bias=enc.attention_bias(torch.float64))
    out = causal_bias.causal_bias_attention(q, k, v, inputs)
    got = torch.autograd.grad(out, (q, k, v, *params), d_out, allow_unused=True)
    assert (out - reference).abs().max() <= 1e-12
    for a, b in zip(got, expected):
        assert (a is None) == (b is None) and (a is None or (a - b).abs().max() <= 1e-10)
    with torch.no_grad():  # inference: the kernel alone, no Function
        assert (causal_bias.causal_bias_attention(q, k, v, inputs) - reference).abs().max() <= 1e-12


def _no_dense_mask(monkeypatch):
    def refuse(self, dtype):  # noqa: ANN001, ANN202
        raise AssertionError("the dense -inf mask was built on a plain causal step")

    monkeypatch.setattr(AttentionInputs, "_build_dense_mask", refuse)


@pytest.mark.parametrize("name", UNFUSED)
def test_training_matches_eager_without_the_dense_mask(name, monkeypatch):
    tokens = torch.randint(0, 256, (2, 40))
    sdpa_training_matches_eager(name, tokens, lambda: _no_dense_mask(monkeypatch), 1e-4)


@pytest.mark.parametrize("name", UNFUSED)
def test_inference_runs_the_flash_kernel_with_the_causal_flag(name, monkeypatch):
    from torch.profiler import profile

    model = tiny_model(name, backend="sdpa").eval()
    _no_dense_mask(monkeypatch)
    with profile(record_shapes=True) as prof, torch.no_grad():
        model(torch.randint(0, 256, (1, 30)))
    calls = [e.concrete_inputs for e in prof.events() if e.name == "aten::_scaled_dot_product_flash_attention_for_cpu"]
    assert calls and all(inputs[4] is True for inputs in calls)  # (q, k, v, dropout_p, is_causal, ...)


@pytest.mark.parametrize("name", BIAS_ENCODINGS[:1])
def test_declines_where_it_would_be_wrong(name):
    q = torch.zeros(1, 4, 6, 8)
    k = v = q
    t = torch.arange(6)
    assert causal_bias.causal_bias_attention(q, k, v, _inputs(name, t)) is not None
    declined = [
        (_inputs(name, t[3:], t), q[..., 3:, :]),  # queries after cached keys: the causal flag would misalign
        (_inputs(name, t[5:], t), q[..., 5:, :]),  # one decoding query
        (_inputs(name, t, causal=False), q),
        (_inputs(name, t, allowed=torch.ones(6, 6, dtype=torch.bool)), q),  # an explicit mask
        (_inputs(name, t), q.bfloat16()),
    ]
    for inputs, queries in declined:
        assert causal_bias.causal_bias_attention(queries, k, v, inputs) is None


def test_unavailable_names_the_reason():
    assert causal_bias.missing_flash_ops(torch.device("cpu")) is None
    assert "cuda" in causal_bias.missing_flash_ops(torch.device("cuda"))
