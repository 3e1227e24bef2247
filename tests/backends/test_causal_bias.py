"""A bias as the CPU flash kernel's mask with the causal flag (causal_bias.py): exact against the
formula (outputs and every gradient, the bias's own included), taken on plain causal steps only,
and never the dense -inf mask there."""


import pytest
import torch

from pe_bench.backends import causal_bias
from pe_bench.backends.inputs import AttentionInputs
from pe_bench.encodings import ENCODINGS, Family

from conftest import exact_in_float64, sdpa_training_matches_eager, tiny_encoding, tiny_model

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
    """The path alone against autograd through the formula, training and inference, to round-off."""
    T = causal_bias.CHUNK + 45  # more than one block of the bias's gradient, the last one ragged

    def attend(q, k, v, bias):  # noqa: ANN001, ANN202
        pos = torch.arange(T)
        inputs = AttentionInputs(q_pos=pos, k_pos=pos, kv_len=T, causal=True, bias=bias)
        out = causal_bias.causal_bias_attention(q, k, v, inputs)  # the Function: the table needs a gradient
        with torch.no_grad():  # inference: the kernel alone, no Function; the helper checks ``out`` itself
            assert (causal_bias.causal_bias_attention(q, k, v, inputs) - out).abs().max() <= 1e-12
        return out

    exact_in_float64(name, T, attend, batch=2, tolerance=1e-10)


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


@pytest.mark.parametrize("name", BIAS_ENCODINGS)
def test_a_row_on_a_backend_whose_fast_path_cannot_run_gets_a_note(name, monkeypatch):
    from pe_bench.backends import FAST_PATH_UNAVAILABLE, fast_path_note

    bias = tiny_encoding(name).attention_bias(torch.float32)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    folds = bias.causal_fold(torch.arange(4), torch.arange(4)) is not None  # the public SDPA, any device
    assert fast_path_note("sdpa", bias, cpu) == "" and fast_path_note("sdpa", None, cpu) == ""
    assert ("cuda" in fast_path_note("sdpa", bias, cuda)) == (not folds)
    monkeypatch.setitem(FAST_PATH_UNAVAILABLE, "sdpa", lambda device: "no flash ops in this torch")
    assert fast_path_note("sdpa", bias, cpu) == ("" if folds else "no flash ops in this torch")
    assert fast_path_note("eager", bias, cpu) == ""


@pytest.mark.parametrize("name", BIAS_ENCODINGS)
def test_queries_keys_and_values_with_a_strided_last_dimension_agree_with_eager(name):
    """The private flash ops assume a contiguous last dimension and do not check it."""
    from pe_bench.backends import BACKENDS

    T = 200
    q, k, v = (torch.randn(2, 4, 8, T).transpose(-1, -2) for _ in range(3))  # stride(-1) == T
    pos = torch.arange(T)
    bias = tiny_encoding(name, max_len=512).attention_bias(torch.float32)
    inputs = lambda: AttentionInputs(q_pos=pos, k_pos=pos, kv_len=T, causal=True, bias=bias)  # noqa: E731
    with torch.no_grad():
        fast, eager = BACKENDS["sdpa"](q, k, v, inputs()), BACKENDS["eager"](q, k, v, inputs())
    assert (fast - eager).abs().max() <= 1e-5
