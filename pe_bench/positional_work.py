"""Timing the positional part of a forward pass on its own.

What counts as positional work depends on the family:

- embedding: building the (Tq, C) vectors and adding them to the token embeddings;
- rotary: building the cos/sin rows and rotating the queries and the new keys in every
  layer — plus, for a cache that stores raw keys (``slot`` positions), rotating every
  cached key in every layer;
- bias: building the bias once, plus per layer attention with the bias minus attention
  without it. For eager/SDPA that includes materializing the dense bias (and, for SDPA,
  leaving the fused causal kernel); for flex it is the score_mod's share of the kernel.
  The two are timed in alternating pairs and the median of the pairwise differences is
  reported (clamped at 0: a bias cannot make attention faster, a negative is noise).
- contextual (CoPE, FoX): each layer's own bias from its input, queries and keys — CoPE's gates
  and counts, FoX's gates and their running sum (read from and written to a cache's state for a
  step) — plus attention with it minus attention without, timed in pairs as a bias is.
- a schedule: the sum of its parts', each over the layers it sits in. A window is part of
  attention, not of the encoding: it is not counted here.

The same function serves a full sequence (Tq = kv_len = T) and one decoding step
(Tq = 1 against kv_len cached keys in a buffer of ``n_slots``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch

from pe_bench.backends import BACKENDS, AttentionInputs
from pe_bench.cache import KVCache, LayerState
from pe_bench.encodings import Family, PositionalEncoding
from pe_bench.model import Transformer
from pe_bench.runtime import Runtime
from pe_bench.timing import paired_difference, time_median


def _backward_if(train: bool, outputs: list[torch.Tensor]) -> None:
    if train:
        torch.autograd.backward(outputs, [torch.ones_like(o) for o in outputs])


def positional_work_seconds(model: Transformer, runtime: Runtime, *, batch_size: int, q_len: int, kv_len: int,
                            n_slots: int | None = None, train: bool = False, rotate_cached_keys: bool = False,
                            warmup: int = 2, repeats: int = 5) -> float:
    """Median seconds of ``model``'s positional work for ``q_len`` queries against ``kv_len`` keys.

    Queries sit at positions kv_len - q_len .. kv_len - 1, keys at 0 .. kv_len - 1; keys and
    values live in a buffer of ``n_slots`` (default kv_len), as in a KV cache.
    """
    common = dict(batch_size=batch_size, q_len=q_len, kv_len=kv_len, n_slots=n_slots, train=train,
                  rotate_cached_keys=rotate_cached_keys, warmup=warmup, repeats=repeats)
    layers: dict[int, list[int]] = {}  # each encoding the layers use (a schedule's parts), with its layers
    for i in range(model.config.n_layers):
        layers.setdefault(id(model.encoding.for_layer(i)), []).append(i)
    return sum(_work(model, model.encoding.for_layer(group[0]), group, runtime, **common) for group in layers.values())


def _work(model: Transformer, enc: PositionalEncoding, layers: list[int], runtime: Runtime, *, batch_size: int,
          q_len: int, kv_len: int, n_slots: int | None, train: bool, rotate_cached_keys: bool, warmup: int,
          repeats: int) -> float:
    """The positional work of ``enc`` in ``layers`` (for an embedding encoding: once)."""
    cfg, n_layers = model.config, len(layers)
    device, dtype = runtime.device, runtime.dtype
    n_slots = n_slots or kv_len
    q_pos = torch.arange(kv_len - q_len, kv_len, device=device)
    k_pos = torch.arange(n_slots, device=device)

    def leaf(length: int, width: int | None = None) -> torch.Tensor:
        shape = (batch_size, length, width) if width else (batch_size, cfg.n_heads, length, cfg.head_dim)
        return torch.randn(shape, device=device, dtype=dtype).requires_grad_(train)

    def timed(fn: Callable[[], object]) -> float:
        with torch.set_grad_enabled(train):
            return time_median(fn, runtime, warmup, repeats)

    if enc.family is Family.EMBEDDING:
        x = leaf(q_len, cfg.d_model)
        return timed(lambda: _backward_if(train, [x + enc.embedding(q_pos, dtype)]))
    if enc.family is Family.ROTARY:
        q, k, cached = leaf(q_len), leaf(q_len), leaf(n_slots)
        reference = None if enc.caches_transformed_keys else kv_len - 1  # as the model passes it

        def rotate_all_layers() -> None:
            rotation = enc.qk_transform(q_pos, dtype, reference)
            outputs = [r for _ in range(n_layers) for r in (rotation.queries(q), rotation.keys(k))]
            if rotate_cached_keys:
                key_rotation = enc.qk_transform(k_pos, dtype, reference)
                outputs += [key_rotation.keys(cached) for _ in range(n_layers)]
            _backward_if(train, outputs)

        return timed(rotate_all_layers)
    if enc.family is Family.BIAS:
        q, k, v = leaf(q_len), leaf(n_slots), leaf(n_slots)
        attention = BACKENDS[model.backend]

        def all_layers(with_bias: bool) -> None:
            # as in a forward pass: the bias is built once (eager/SDPA materialize it on the
            # first layer's call) and every layer attends with it
            bias = enc.attention_bias(dtype) if with_bias else None
            inputs = AttentionInputs(q_pos=q_pos, k_pos=k_pos, kv_len=kv_len, causal=cfg.causal, bias=bias,
                                  compile_flex=cfg.compile_flex)
            _backward_if(train, [attention(q, k, v, inputs) for _ in range(n_layers)])

        with torch.set_grad_enabled(train):
            return max(0.0, paired_difference(lambda: all_layers(True), lambda: all_layers(False), runtime,
                                              warmup, repeats))
    if enc.family is Family.CONTEXTUAL:
        return _contextual_work(model, layers, runtime, q_pos, k_pos, kv_len, leaf, train, warmup, repeats)
    return 0.0


def _contextual_work(model: Transformer, layers: list[int], runtime: Runtime, q_pos: torch.Tensor,
                     k_pos: torch.Tensor, kv_len: int, leaf: Callable[..., torch.Tensor], train: bool, warmup: int,
                     repeats: int) -> float:
    """Each layer's own bias from its input, queries and keys (and its per-token state in a cache, for a
    step), plus attention with it minus attention without, timed in pairs as a bias is."""
    cfg, q_len = model.config, q_pos.shape[0]
    contexts = [model.blocks[i].attention.context for i in layers]
    x, q, k, v = leaf(q_len, cfg.d_model), leaf(q_len), leaf(k_pos.shape[0]), leaf(k_pos.shape[0])
    attention = BACKENDS[model.backend]
    plain = AttentionInputs(q_pos=q_pos, k_pos=k_pos, kv_len=kv_len, causal=cfg.causal, compile_flex=cfg.compile_flex)
    visible = plain.allowed_matrix()
    cache = None
    if q_len < kv_len and contexts[0].state_size:  # a step: the state of the keys before it is in a cache
        cache = KVCache(n_layers=len(layers), batch_size=q.shape[0], n_heads=cfg.n_heads, head_dim=cfg.head_dim,
                        capacity=k_pos.shape[0], state_size=contexts[0].state_size, dtype=q.dtype, device=q.device)
        cache.reserve(k_pos[: kv_len - q_len])

    def all_layers(with_bias: bool) -> None:
        step = cache.reserve(q_pos) if cache is not None else None
        outputs = []
        for j, context in enumerate(contexts):
            inputs = plain
            if with_bias:
                state = LayerState(cache, step, j) if step is not None else None
                bias = context.bias(x, q, k[..., :kv_len, :], k_pos[:kv_len], visible, state)
                inputs = replace(plain, bias=bias, _memo={})
            outputs.append(attention(q, k, v, inputs))
        _backward_if(train, outputs)
        if step is not None:
            cache.undo(step)

    with torch.set_grad_enabled(train):
        return max(0.0, paired_difference(lambda: all_layers(True), lambda: all_layers(False), runtime, warmup,
                                          repeats))
