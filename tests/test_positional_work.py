"""Timing the positional part alone: a known cost injected into an encoding's hook must be measured.

Tests never assert how long real work takes; they slow a hook down by a known sleep and
check that the measurement sees at least that much, so a measurement that skips a family
(or reports 0 for it) fails here.
"""

import time

import pytest
import torch

from pe_bench.encodings import ENCODINGS, Family
from pe_bench.positional_work import positional_work_seconds
from pe_bench.runtime import make_runtime

from conftest import ALL_ENCODINGS, tiny_model

RUNTIME = make_runtime("cpu", "float32")
DELAY = 0.02  # seconds added to each call of the hook that does the positional work


class SlowTransform:
    """A query/key transform that sleeps before doing the real one."""

    def __init__(self, inner):
        self.inner = inner

    def queries(self, x):
        time.sleep(DELAY)
        return self.inner.queries(x)

    def keys(self, x):
        time.sleep(DELAY)
        return self.inner.keys(x)


class SlowBias:
    """An attention bias whose dense form takes DELAY longer to build."""

    def __init__(self, inner):
        self.inner = inner

    def materialize(self, q_pos, k_pos):
        time.sleep(DELAY)
        return self.inner.materialize(q_pos, k_pos)

    def score_mod(self, q_pos, k_pos):
        return self.inner.score_mod(q_pos, k_pos)


def slow_down(model, enc=None) -> None:
    """Make the hook of the model's encoding family DELAY slower per call (a schedule's: each part's)."""
    enc = model.encoding if enc is None else enc
    if enc.family is Family.SCHEDULE:
        for part in enc.parts:
            slow_down(model, part)
    elif enc.family is Family.CONTEXTUAL:
        for block in model.blocks:
            context = block.attention.context
            if context is not None:
                context.bias = lambda *args, bias=context.bias: (time.sleep(DELAY), bias(*args))[1]
    elif enc.family is Family.EMBEDDING:
        embedding = enc.embedding
        enc.embedding = lambda positions, dtype: (time.sleep(DELAY), embedding(positions, dtype))[1]
    elif enc.family is Family.ROTARY:
        rotation = enc.qk_transform
        enc.qk_transform = lambda positions, dtype, reference=None: SlowTransform(rotation(positions, dtype, reference))
    elif enc.family is Family.BIAS:
        attention_bias = enc.attention_bias
        enc.attention_bias = lambda dtype: SlowBias(attention_bias(dtype))


@pytest.mark.parametrize("backend", ["eager", "sdpa"])  # the backends that build the bias densely
@pytest.mark.parametrize("mode", ["inference", "train"])
@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_an_injected_cost_in_the_positional_hook_is_measured(name, mode, backend):
    model = tiny_model(name, backend=backend)
    slow_down(model)
    seconds = positional_work_seconds(model, RUNTIME, batch_size=2, q_len=16, kv_len=16, train=mode == "train",
                                      warmup=1, repeats=3)
    if ENCODINGS[name].family is Family.NONE:
        assert seconds == 0
    else:
        assert seconds >= 0.8 * DELAY


@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_a_cache_of_raw_keys_costs_the_rotation_of_every_cached_key(name):
    """Slot positions: every cached key is rotated again in every layer (n_layers more calls)."""
    if ENCODINGS[name].family is not Family.ROTARY:
        return
    model = tiny_model(name)
    slow_down(model)
    common = dict(batch_size=1, q_len=1, kv_len=16, warmup=1, repeats=3)
    with torch.no_grad():
        rotated_once = positional_work_seconds(model, RUNTIME, **common)
        every_key = positional_work_seconds(model, RUNTIME, rotate_cached_keys=True, **common)
    layers = model.config.n_layers
    assert rotated_once >= 0.8 * 2 * layers * DELAY  # the new query and key in each layer
    assert every_key >= 0.8 * 3 * layers * DELAY  # ... and all cached keys, once more per layer


@pytest.mark.parametrize("name", [n for n in ALL_ENCODINGS if ENCODINGS[n].family is Family.CONTEXTUAL])
def test_a_contextual_step_against_a_cache_costs_each_layers_bias(name):
    """One decoding step: each layer computes its bias for the new query (FoX from the cache's state)."""
    model = tiny_model(name)
    slow_down(model)
    with torch.no_grad():
        seconds = positional_work_seconds(model, RUNTIME, batch_size=1, q_len=1, kv_len=16, warmup=1, repeats=3)
    assert seconds >= 0.8 * model.config.n_layers * DELAY
