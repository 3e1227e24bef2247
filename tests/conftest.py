"""Shared fixtures and helpers: everything seeded, CPU only, tiny shapes.

Every list of names comes from a registry, so a new encoding, backend or suite is tested
for free. Encodings are built with their declared ``check_options`` (a RoPE scaling
variant at scale 1 is plain RoPE; tests build it at a scale where it differs).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

from pe_bench.backends import BACKENDS
from pe_bench.encodings import ENCODINGS, base_encodings, build_encoding
from pe_bench.model import Transformer, build_model
from pe_bench.suites import SUITES

ALL_ENCODINGS = list(ENCODINGS)  # variants included
BASE_ENCODINGS = list(base_encodings())
ALL_BACKENDS = list(BACKENDS)
ALL_SUITES = list(SUITES)

MAX_WORKERS = 8  # a cap on a large machine: each worker imports torch and runs its own modules' models (2 measured here)


def usable_cores() -> int:
    """The cores this process may use: its CPU affinity, and a cgroup's CPU quota where one is set
    (a container limited to 2 CPUs on a 64-core host sees 64 in its affinity)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


def pytest_xdist_auto_num_workers(config) -> int:  # noqa: ANN001
    """``-n auto`` (pyproject.toml): one worker per usable core, at most MAX_WORKERS."""
    return min(usable_cores(), MAX_WORKERS)


if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist runs one worker per core: each on one thread, and so the processes a test starts,
    # or the workers would share each core between 2 threads and be slower than 1 worker alone
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"


def tiny_model(name: str, **overrides: object) -> Transformer:
    """The tiny preset with ``name``, built with the encoding's ``check_options``."""
    options = dict(ENCODINGS[name].check_options)
    options.update(overrides.pop("encoding_options", {}))  # type: ignore[arg-type]
    overrides.setdefault("n_layers", max(2, ENCODINGS[name].layers_needed()))  # a schedule gets every layer it names
    return build_model(name, "tiny", encoding_options=options, **overrides)


def sharpened(model: Transformer, factor: float = 8.0) -> Transformer:
    """``model`` with its query/key/value projections scaled by ``factor``, in place.

    At initialization attention is nearly uniform, so a positional effect on the scores
    barely reaches the logits; sharper attention makes a property that does not hold
    measurably fail, while one that holds still holds exactly.
    """
    with torch.no_grad():
        for block in model.blocks:
            block.attention.qkv.weight.mul_(factor)
    return model


def tiny_encoding(name: str, **kwargs: object):
    """An encoding of the tiny model's width and heads, with its ``check_options``."""
    options = {"d_model": 32, "n_heads": 4, "max_len": 64, **ENCODINGS[name].check_options, **kwargs}
    return build_encoding(name, **options)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def plugin_registry():
    """The encoding registry, restored in place after the test: plugins it registers are forgotten
    (in place, because other modules hold the same dicts)."""
    import pe_bench.encodings as encodings

    saved = dict(encodings.ENCODINGS), dict(encodings.ORIGINS)
    yield encodings
    for registry, before in zip((encodings.ENCODINGS, encodings.ORIGINS), saved):
        registry.clear()
        registry.update(before)


@pytest.fixture
def tokens() -> torch.Tensor:
    """A batch of 2 random byte sequences of length 24."""
    return torch.randint(0, 256, (2, 24), generator=torch.Generator().manual_seed(1))


def exact_in_float64(name: str, T: int, attend, batch: int = 1, tolerance: float = 1e-12) -> None:  # noqa: ANN001
    """``attend(q, k, v, bias)`` (a fast path) against autograd through softmax(QK^T/sqrt(D) + bias, causal) V,
    in float64 with the encoding's parameters drawn at random: the output to 1e-12, every gradient
    (q, k, v and the encoding's parameters) to ``tolerance``."""
    enc = tiny_encoding(name, max_len=512).double()
    with torch.no_grad():
        for p in enc.parameters():
            p.normal_(0, 1.0)
    q, k, v = (torch.randn(batch, 4, T, 8, dtype=torch.float64, requires_grad=True) for _ in range(3))
    params = [p for p in enc.parameters() if p.requires_grad]
    pos = torch.arange(T)
    dense = enc.attention_bias(torch.float64).materialize(pos, pos).masked_fill(pos[None, :] > pos[:, None], -math.inf)
    reference = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(8) + dense, -1) @ v
    d_out = torch.randn_like(reference)
    expected = torch.autograd.grad(reference, (q, k, v, *params), d_out, allow_unused=True)
    out = attend(q, k, v, enc.attention_bias(torch.float64))  # a bias of its own: its graph is not the reference's
    got = torch.autograd.grad(out, (q, k, v, *params), d_out, allow_unused=True)
    assert (out - reference).abs().max() <= 1e-12
    for a, b in zip(got, expected):
        assert (a is None) == (b is None) and (a is None or (a - b).abs().max() <= tolerance)


def sdpa_training_matches_eager(name: str, tokens, refuse_dense_mask, loss_tolerance: float) -> None:  # noqa: ANN001
    """One training step of ``name`` on eager and on sdpa (after ``refuse_dense_mask()``, which makes
    building the dense mask fail): the losses agree to ``loss_tolerance``, every gradient to 1e-4."""
    grads, losses = {}, {}
    for backend in ("eager", "sdpa"):
        model = sharpened(tiny_model(name, backend=backend))
        if backend == "sdpa":
            refuse_dense_mask()
        losses[backend] = model.loss(tokens[:, :-1], tokens[:, 1:])
        losses[backend].backward()
        grads[backend] = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert abs(losses["sdpa"].item() - losses["eager"].item()) <= loss_tolerance
    for n, grad in grads["eager"].items():
        assert (grads["sdpa"][n] - grad).abs().max() <= 1e-4, n
