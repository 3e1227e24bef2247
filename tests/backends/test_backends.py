"""The three backends compute the same attention, for every encoding, causal or not."""

import pytest
import torch

from pe_bench.encodings import ENCODINGS
from pe_bench.errors import InputError, Unsupported
from pe_bench.model import build_model

from conftest import ALL_BACKENDS, ALL_ENCODINGS, tiny_model


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_backends_agree(name, causal, tokens):
    if ENCODINGS[name].causal_only and not causal:
        with pytest.raises(InputError, match="causal attention only"):
            tiny_model(name, causal=causal)
        return
    model = tiny_model(name, causal=causal).eval()
    outputs = {}
    with torch.no_grad():
        for backend in ALL_BACKENDS:
            model.backend = backend
            outputs[backend] = model(tokens)
    for backend in ALL_BACKENDS:
        assert (outputs[backend] - outputs["eager"]).abs().max() <= 1e-5, backend


@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_backends_agree_under_an_explicit_mask(name, tokens):
    model = tiny_model(name).eval()
    T = tokens.shape[1]
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    band = (j <= i) & (j > i - 5)  # each query sees itself and 4 keys back
    outputs = {}
    with torch.no_grad():
        for backend in ALL_BACKENDS:
            model.backend = backend
            outputs[backend] = model(tokens, attn_mask=band)
        unmasked = model(tokens)
    for backend in ALL_BACKENDS:
        assert (outputs[backend] - outputs["eager"]).abs().max() <= 1e-5, backend
    assert (outputs["eager"] - unmasked).abs().max() > 1e-3  # the mask did something


def test_causal_mask_hides_the_future(tokens):
    model = build_model("rope", "tiny").eval()
    changed = tokens.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 256
    with torch.no_grad():
        a, b = model(tokens), model(changed)
    assert torch.allclose(a[:, :-1], b[:, :-1], atol=1e-6)
    assert not torch.allclose(a[:, -1], b[:, -1])


def test_flex_training_on_cpu_is_a_clear_error(tokens):
    model = build_model("alibi", "tiny", backend="flex")
    with pytest.raises(Unsupported, match="forward only on CPU.*train with the sdpa or eager backend"):
        model.loss(tokens[:, :-1], tokens[:, 1:]).backward()


@pytest.mark.parametrize("name", ["rope", "t5"])  # no bias; a learned bias (whose parameters flex sees)
def test_flex_inference_on_cpu_needs_no_torch_no_grad(name, tokens):
    model = build_model(name, "tiny", backend="flex").eval()
    out = model(tokens)  # gradients enabled, parameters requiring grad: no backward follows, so it runs
    model.backend = "eager"
    with torch.no_grad():
        assert (out - model(tokens)).abs().max() <= 1e-5


def test_flex_on_cpu_never_drops_a_learned_bias_gradient_silently(tokens):
    model = build_model("t5", "tiny", backend="flex")
    for parameter_name, parameter in model.named_parameters():
        parameter.requires_grad_(parameter_name.startswith("encoding."))  # only the bias would learn
    with pytest.raises(Unsupported, match="forward only on CPU"):
        model.loss(tokens[:, :-1], tokens[:, 1:]).backward()


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_training_step_reaches_encoding_parameters(name, backend, tokens):
    model = tiny_model(name, backend=backend)
    try:
        model.loss(tokens[:, :-1], tokens[:, 1:]).backward()
    except Unsupported:  # flex on CPU runs forward only (tested above); on a GPU it must train
        assert backend == "flex" and tokens.device.type == "cpu"
        return
    for p in model.encoding.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_learned_bias_gradients_match_eager_across_query_blocks():
    """T5 training on CPU SDPA uses a hand-written mask gradient; it must equal autograd's."""
    torch.manual_seed(0)
    T = 300  # more than one 256-query block
    tokens = torch.randint(0, 256, (2, T + 1))
    grads = {}
    for backend in ("eager", "sdpa"):
        model = build_model("t5", "tiny", backend=backend, max_len=512)
        model.loss(tokens[:, :-1], tokens[:, 1:]).backward()
        grads[backend] = {n: p.grad for n, p in model.named_parameters()}
    for name, grad in grads["eager"].items():
        assert torch.allclose(grads["sdpa"][name], grad, atol=1e-6, rtol=1e-4), name


def test_learned_bias_gradient_with_cached_keys_before_the_queries():
    """The same Function with 40 queries after 260 cached keys: the causal offset and key limit."""
    from pe_bench.backends.sdpa import _SDPAWithLearnedBias

    torch.manual_seed(0)
    q = torch.randn(1, 2, 40, 16, requires_grad=True)
    k, v = (torch.randn(1, 2, 300, 16, requires_grad=True) for _ in range(2))
    allowed = torch.arange(300)[None, :] <= torch.arange(40)[:, None] + 260
    bias = torch.randn(1, 2, 40, 300).masked_fill(~allowed, float("-inf")).requires_grad_()
    out = _SDPAWithLearnedBias.apply(q, k, v, bias, 260)
    reference = torch.softmax(q @ k.transpose(-2, -1) / 4.0 + bias, dim=-1) @ v
    d_out = torch.randn_like(out)
    ours = torch.autograd.grad(out, (q, k, v, bias), d_out)
    theirs = torch.autograd.grad(reference, (q, k, v, bias), d_out)
    assert torch.allclose(out, reference, atol=1e-5)
    for a, b in zip(ours, theirs):
        assert torch.allclose(a.nan_to_num(), b.nan_to_num(), atol=1e-5)


def test_compiled_flex_matches_eager_for_a_full_pass_and_cached_decoding():
    """The path quick and standard time: compiled kernels, block masks from block counts, a
    score_mod reading a table. Slow (compiles three kernels), so one encoding, over two blocks."""
    model = build_model("t5", "tiny", d_model=64, compile_flex=True).eval()  # head_dim 16
    tokens = torch.randint(0, 256, (1, 150), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.backend = "eager"
        reference = model(tokens)
        model.backend = "flex"
        full = model(tokens)
        cache = model.new_cache(1, 150)
        parts = [model(tokens[:, :130], cache=cache)]
        parts += [model(tokens[:, t:t + 1], cache=cache) for t in range(130, 150)]
    assert (full - reference).abs().max() <= 1e-5
    assert (torch.cat(parts, 1) - reference).abs().max() <= 1e-4


def test_flex_sees_one_memory_layout_whatever_the_encoding(monkeypatch, tokens):
    """Compiled flex guards on strides, so a layout that differs by encoding (NoPE's
    head-transposed views, RoPE's rotated copies) would compile a kernel per encoding."""
    from pe_bench.backends import flex

    seen = set()

    def recording_flex(q, k, v, score_mod=None, block_mask=None):  # noqa: ANN001, ANN202
        seen.add(tuple(t.stride() for t in (q, k, v)))
        return torch.zeros_like(q)

    monkeypatch.setattr(flex, "compiled_flex_attention", lambda: recording_flex)
    one_per_family = {cls.family: name for name, cls in reversed(ENCODINGS.items())}.values()
    with torch.no_grad():
        for name in one_per_family:
            n_layers = max(2, ENCODINGS[name].layers_needed())  # a schedule gets every layer it names
            build_model(name, "tiny", compile_flex=True, backend="flex", n_layers=n_layers).eval()(tokens)
    assert len(seen) == 1


@pytest.mark.parametrize("backend", ["eager", "sdpa-dense"])
def test_a_dense_bias_is_built_once_per_forward_and_shared_by_every_layer(backend, tokens, monkeypatch):
    model = tiny_model("alibi", backend=backend).eval()
    bias_type = type(model.encoding.attention_bias(torch.float32))
    calls = []
    real = bias_type.materialize
    monkeypatch.setattr(bias_type, "materialize", lambda self, q, k: calls.append(1) or real(self, q, k))
    with torch.no_grad():
        model(tokens)
    assert model.config.n_layers > 1 and len(calls) == 1
