"""The transformer's layers: multi-head attention and the pre-LayerNorm block.

Positions reach attention through ``AttentionInputs`` (built by the model, once per forward
pass for each encoding its layers use). A contextual encoding (CoPE, FoX) also gives each
attention layer a ``LayerContext`` of its own, which computes this layer's bias from its input,
queries and keys; it keeps per-token state in the KV cache where it needs to (``LayerState``).

Shape letters: B batch, T new tokens, S key slots, H heads, D head_dim, C d_model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from torch import Tensor, nn

from pe_bench.backends import BACKENDS, AttentionInputs
from pe_bench.cache import CacheStep, KVCache, LayerState
from pe_bench.encodings.base import LayerContext


class Attention(nn.Module):
    """Multi-head self-attention; positions arrive through ``AttentionInputs``."""

    def __init__(self, d_model: int, n_heads: int, backend: str, context: LayerContext | None = None) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.backend = backend
        self.context = context  # a contextual encoding's part in this layer, or None
        #: called with (q, k, inputs) just before the backend, as the backend sees them (the attention suite's probe)
        self.probe: Callable[[Tensor, Tensor, AttentionInputs], None] | None = None

    def forward(self, x: Tensor, inputs: AttentionInputs, cache: KVCache | None = None,
                step: CacheStep | None = None, layer: int = 0) -> Tensor:
        B, T, C = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_heads, C // self.n_heads).permute(2, 0, 3, 1, 4)  # (3, B, H, T, D)
        q, k, v = qkv.unbind(0)  # views, no copy
        if inputs.transform is not None:
            if inputs.key_transform is None:  # keys are transformed once, at their own position, then cached
                q, k = inputs.transform.queries_and_keys(qkv[:2])  # one pass where the encoding can
            else:
                q = inputs.transform.queries(q)
        if cache is not None:
            k, v = cache.update(layer, step, k, v)  # (B, H, S, D)
        if inputs.key_transform is not None:  # the cache holds raw keys: transform them at this step's positions
            k = inputs.key_transform.keys(k)
        if self.context is not None:  # this layer's own bias, and a memo of its own for the dense mask it makes
            state = LayerState(cache, step, layer) if cache is not None and self.context.state_size else None
            n = inputs.kv_len
            bias = self.context.bias(x, q, k[..., :n, :], inputs.k_pos[:n], inputs.allowed_matrix(), state)
            inputs = replace(inputs, bias=bias, _memo={})
        if self.probe is not None:
            self.probe(q, k, inputs)
        y = BACKENDS[self.backend](q, k, v, inputs)  # (B, H, T, D)
        return self.out(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    """Pre-LayerNorm block: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, d_model: int, n_heads: int, mlp_ratio: int, backend: str,
                 context: LayerContext | None = None) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attention = Attention(d_model, n_heads, backend, context)
        self.norm2 = nn.LayerNorm(d_model)
        hidden = mlp_ratio * d_model
        self.mlp = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, d_model))

    def forward(self, x: Tensor, inputs: AttentionInputs, cache: KVCache | None, step: CacheStep | None,
                layer: int) -> Tensor:
        x = x + self.attention(self.norm1(x), inputs, cache, step, layer)
        return x + self.mlp(self.norm2(x))
