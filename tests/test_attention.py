"""The three backends compute the same attention, for every encoding, causal or not."""

import pytest
import torch

from pe_bench.errors import Unsupported
from pe_bench.model import build_model

from conftest import ALL_BACKENDS, ALL_ENCODINGS


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_backends_agree(name, causal, tokens):
    model = build_model(name, "tiny", causal=causal).eval()
    outputs = {}
    with torch.no_grad():
        for backend in ALL_BACKENDS:
            model.backend = backend
            outputs[backend] = model(tokens)
    for backend in ALL_BACKENDS:
        assert (outputs[backend] - outputs["eager"]).abs().max() <= 1e-5, backend


@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_backends_agree_under_an_explicit_mask(name, tokens):
    model = build_model(name, "tiny").eval()
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
    with pytest.raises(Unsupported, match="forward only on CPU"):
        model.loss(tokens[:, :-1], tokens[:, 1:]).backward()


@pytest.mark.parametrize("backend", ["eager", "sdpa"])
@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_training_step_reaches_encoding_parameters(name, backend, tokens):
    model = build_model(name, "tiny", backend=backend)
    model.loss(tokens[:, :-1], tokens[:, 1:]).backward()
    for p in model.encoding.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
