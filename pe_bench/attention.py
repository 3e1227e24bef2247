"""Attention backends: ``eager``, ``sdpa`` and ``flex``, chosen by name.

All three compute softmax(Q K^T / sqrt(D) + bias) V under the same mask and agree to
float32 round-off:

- ``eager``: the formula written out; the bias and the mask are materialized.
- ``sdpa``: torch's scaled_dot_product_attention. No bias and a plain causal mask run the
  fused kernel (``is_causal``); a bias goes in as a dense float mask, which keeps the
  fastest kernels from running.
- ``flex``: torch's flex_attention. The bias is a ``score_mod`` evaluated inside the kernel
  and the mask a block mask, so the (H, T, S) bias is never built. Compiled once per shape
  (the compiled function is cached); on CPU torch runs it forward only.

Keys and values may be a KV cache's preallocated buffers: slots [0, kv_len) are valid and
the rest are masked (eager and SDPA slice them off; flex keeps the fixed shape so one
compiled kernel serves every decoding step).

Shape letters: B batch, H heads, Tq queries, S key slots, D head_dim.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from pe_bench.encodings.base import AttentionBias
from pe_bench.encodings.rope import Rotation
from pe_bench.errors import InputError, Unsupported


@dataclass
class AttentionInputs:
    """What attention needs to know about positions; built once per forward, shared by layers."""

    q_pos: Tensor  # (Tq,) positions of the queries
    k_pos: Tensor  # (S,) positions of every key slot; only [0, kv_len) are meaningful
    kv_len: int  # number of valid key slots
    causal: bool  # query i sees keys up to slot kv_len - Tq + i
    bias: AttentionBias | None = None
    allowed: Tensor | None = None  # (Tq, kv_len) bool, True = may attend; replaces the causal rule
    rotation: Rotation | None = None  # applied to queries, and to new keys when the cache stores rotated keys
    key_rotation: Rotation | None = None  # applied to all S cached keys (caches that store raw keys)
    compile_flex: bool = True
    _dense: dict[torch.dtype, Tensor | None] = field(default_factory=dict, repr=False)
    _block_masks: dict[tuple[int, torch.device], object] = field(default_factory=dict, repr=False)

    @property
    def n_queries(self) -> int:
        return self.q_pos.shape[0]

    def allowed_matrix(self) -> Tensor | None:
        """(Tq, kv_len) bool mask, or None when every query may see every valid key."""
        if self.allowed is not None:
            return self.allowed
        tq, kv = self.n_queries, self.kv_len
        if not self.causal or tq == 1:
            return None  # a single query is the newest token: every valid key is in its past
        past = kv - tq  # keys before the first query
        q = torch.arange(tq, device=self.q_pos.device)[:, None]
        k = torch.arange(kv, device=self.q_pos.device)[None, :]
        return k <= q + past

    def dense_mask(self, dtype: torch.dtype) -> Tensor | None:
        """Bias and mask folded into one float (1, H, Tq, kv_len) tensor, a bool mask, or None.

        Built on first use and shared by every layer of this forward pass. Four dimensions
        on purpose: SDPA's CPU flash kernel accepts a 4-D mask but falls back to the much
        slower math kernel for a 3-D one.
        """
        if dtype not in self._dense:
            allowed = self.allowed_matrix()
            if self.bias is None:
                self._dense[dtype] = None if allowed is None else allowed[None, None]  # (1, 1, Tq, kv_len)
            else:
                bias = self.bias.materialize(self.q_pos, self.k_pos[: self.kv_len]).to(dtype)  # (H, Tq, kv_len)
                if allowed is not None:
                    bias = bias.masked_fill(~allowed, float("-inf"))
                self._dense[dtype] = bias[None]  # (1, H, Tq, kv_len)
        return self._dense[dtype]

    def flex_block_mask(self, n_slots: int, device: torch.device) -> object:
        """flex_attention's BlockMask over ``n_slots`` key slots, built once per forward pass."""
        key = (n_slots, device)
        if key not in self._block_masks:
            self._block_masks[key] = _block_mask(self, n_slots, device)
        return self._block_masks[key]


def _valid(k: Tensor, v: Tensor, inp: AttentionInputs) -> tuple[Tensor, Tensor]:
    """Keys and values restricted to the valid slots (views, no copy)."""
    n = inp.kv_len
    return k[..., :n, :], v[..., :n, :]


def eager_attention(q: Tensor, k: Tensor, v: Tensor, inp: AttentionInputs) -> Tensor:
    """softmax(Q K^T / sqrt(D) + bias) V, everything materialized. Returns (B, H, Tq, D)."""
    k, v = _valid(k, v, inp)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, H, Tq, kv_len)
    mask = inp.dense_mask(scores.dtype)
    if mask is not None and mask.dtype == torch.bool:
        scores = scores.masked_fill(~mask, float("-inf"))
    elif mask is not None:
        scores = scores + mask  # bias with -inf where masked
    return torch.softmax(scores, dim=-1) @ v


def sdpa_attention(q: Tensor, k: Tensor, v: Tensor, inp: AttentionInputs) -> Tensor:
    """torch's scaled_dot_product_attention; fused causal kernel when there is no bias."""
    k, v = _valid(k, v, inp)
    plain_causal = inp.causal and inp.allowed is None and inp.n_queries == inp.kv_len
    if inp.bias is None and plain_causal:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    mask = inp.dense_mask(q.dtype)
    if mask is not None and mask.requires_grad and q.device.type == "cpu":
        past = inp.kv_len - inp.n_queries if inp.causal and inp.allowed is None else None
        return _SDPAWithLearnedBias.apply(q, k, v, mask, past)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


class _SDPAWithLearnedBias(torch.autograd.Function):
    """SDPA with a float mask that needs a gradient (T5's learned bias in training), on CPU.

    SDPA's fused CPU kernels cannot return a gradient for the mask, so torch would run its
    math kernel: the whole (B, H, Tq, S) score tensor, about twice the time and memory of
    the fused path. Here the fused kernel runs with the mask held constant and gives the
    gradients of q, k and v; the mask's gradient dS = P * (dP - rowsum(dO * O)) is computed
    separately, a block of queries at a time, over the keys a causal query can see.
    """

    CHUNK = 256  # query rows per block: bounds the extra memory to (B, H, 256, S)

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, mask: Tensor, past: int | None) -> Tensor:  # noqa: ANN001
        with torch.enable_grad():
            leaves = [t.detach().requires_grad_() for t in (q, k, v)]
            out = F.scaled_dot_product_attention(*leaves, attn_mask=mask.detach())
        ctx.graph = (leaves, out)
        ctx.past = past
        ctx.save_for_backward(q, k, v, mask, out.detach())
        return out.detach()

    @staticmethod
    def backward(ctx, d_out: Tensor) -> tuple[Tensor | None, ...]:  # noqa: ANN001
        q, k, v, mask, out = ctx.saved_tensors
        leaves, graph_out = ctx.graph
        dq, dk, dv = torch.autograd.grad(graph_out, leaves, d_out)
        ctx.graph = None
        scale = 1.0 / math.sqrt(q.shape[-1])
        d_mask = torch.zeros_like(mask)  # (1 or B, H, Tq, S)
        delta = (d_out * out).sum(-1, keepdim=True)  # (B, H, Tq, 1)
        for a in range(0, q.shape[-2], _SDPAWithLearnedBias.CHUNK):
            b = min(a + _SDPAWithLearnedBias.CHUNK, q.shape[-2])
            n = k.shape[-2] if ctx.past is None else min(k.shape[-2], b + ctx.past)  # keys visible to the block
            scores = q[..., a:b, :] @ k[..., :n, :].transpose(-2, -1)  # (B, H, b-a, n)
            p = torch.softmax(scores.mul_(scale).add_(mask[..., a:b, :n]), dim=-1)
            d_scores = d_out[..., a:b, :] @ v[..., :n, :].transpose(-2, -1)  # dP, then dS in place
            d_scores.sub_(delta[..., a:b, :]).mul_(p)
            d_mask[..., a:b, :n] = d_scores.sum(0, keepdim=True) if mask.shape[0] == 1 else d_scores
        return dq, dk, dv, d_mask, None


@functools.cache
def compiled_flex_attention() -> Callable[..., Tensor]:
    """flex_attention compiled once per process; each new shape compiles once more (seconds)."""
    from torch.nn.attention.flex_attention import flex_attention

    # one compiled kernel per (sequence length, cache capacity): allow many before giving up
    # (the setting's name changed across torch versions; set whichever this one has)
    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(config, name):
            setattr(config, name, 256)
            break
    if hasattr(config, "accumulated_recompile_limit"):
        config.accumulated_recompile_limit = 4096
    # dynamic shapes hit a C++ codegen bug in torch 2.13's CPU flex template; static is fine
    return torch.compile(flex_attention, dynamic=False)


def _mask_mod(inp: AttentionInputs, n_slots: int, device: torch.device) -> Callable:
    """The flex mask_mod for this step; ints live in tensors so new steps do not recompile."""
    if inp.allowed is not None:
        allowed = torch.zeros(inp.n_queries, n_slots, dtype=torch.bool, device=device)
        allowed[:, : inp.kv_len] = inp.allowed
        return lambda b, h, q_idx, kv_idx: allowed[q_idx, kv_idx]
    kv_len = torch.tensor(inp.kv_len, device=device)
    if inp.causal and inp.n_queries > 1:
        past = torch.tensor(inp.kv_len - inp.n_queries, device=device)
        return lambda b, h, q_idx, kv_idx: (kv_idx <= q_idx + past) & (kv_idx < kv_len)
    return lambda b, h, q_idx, kv_idx: kv_idx < kv_len


FLEX_BLOCK = 128  # flex_attention's default block size, passed explicitly where we build masks


def warm_up_flex_compiler(device: torch.device) -> float:
    """Compile one tiny flex kernel; returns the seconds it took.

    The first compilation in a process also starts dynamo and inductor (many seconds); doing
    it here keeps that one-time cost out of the compile time reported for any encoding.
    """
    import time

    q = torch.zeros(1, 1, FLEX_BLOCK, 16, device=device)
    start = time.perf_counter()
    with torch.no_grad():
        compiled_flex_attention()(q, q, q, block_mask=_full_sequence_block_mask(FLEX_BLOCK, FLEX_BLOCK, True, device))
    return time.perf_counter() - start


@functools.lru_cache(maxsize=32)
def _full_sequence_block_mask(n_queries: int, n_slots: int, causal: bool, device: torch.device):  # noqa: ANN202
    """The mask of a forward pass without a cache: causal or all-visible; built once per shape."""
    from torch.nn.attention.flex_attention import create_block_mask, noop_mask

    mask_mod = (lambda b, h, q_idx, kv_idx: q_idx >= kv_idx) if causal else noop_mask
    return create_block_mask(mask_mod, None, None, n_queries, n_slots, device=device, BLOCK_SIZE=FLEX_BLOCK)


def _one_query_block_mask(mask_mod: Callable, kv_len: int, n_slots: int, device: torch.device):  # noqa: ANN202
    """A decoding step's mask built from block counts, three times cheaper than create_block_mask.

    Key blocks entirely below kv_len are full (no mask_mod); the block holding kv_len, if
    any, is partial.
    """
    from torch.nn.attention.flex_attention import BlockMask

    n_blocks = -(-n_slots // FLEX_BLOCK)
    n_full, n_partial = divmod(kv_len, FLEX_BLOCK)
    order = torch.arange(n_blocks, dtype=torch.int32, device=device)[None, None, None, :]

    def count(n: int) -> Tensor:
        return torch.full((1, 1, 1), n, dtype=torch.int32, device=device)

    try:
        return BlockMask.from_kv_blocks(count(int(n_partial > 0)), order.roll(-n_full, dims=-1), count(n_full),
                                        order, BLOCK_SIZE=FLEX_BLOCK, mask_mod=mask_mod, seq_lengths=(1, n_slots))
    except TypeError:  # a torch whose from_kv_blocks takes no seq_lengths: the slower, general way
        from torch.nn.attention.flex_attention import create_block_mask

        return create_block_mask(mask_mod, None, None, 1, n_slots, device=device, BLOCK_SIZE=FLEX_BLOCK)


def _block_mask(inp: AttentionInputs, n_slots: int, device: torch.device):  # noqa: ANN202
    """Always a BlockMask, never None: torch's recompilation check crashes when flex alternates
    between calls with and without one."""
    from torch.nn.attention.flex_attention import create_block_mask

    if inp.allowed is None and inp.n_queries == 1:
        return _one_query_block_mask(_mask_mod(inp, n_slots, device), inp.kv_len, n_slots, device)
    if inp.allowed is None and inp.kv_len == n_slots and (inp.n_queries == n_slots or not inp.causal):
        return _full_sequence_block_mask(inp.n_queries, n_slots, inp.causal, device)
    return create_block_mask(_mask_mod(inp, n_slots, device), None, None, inp.n_queries, n_slots, device=device,
                             BLOCK_SIZE=FLEX_BLOCK)


def flex_attention(q: Tensor, k: Tensor, v: Tensor, inp: AttentionInputs) -> Tensor:
    """flex_attention with the bias as a score_mod and the mask as a block mask."""
    if q.device.type == "cpu" and torch.is_grad_enabled() and q.requires_grad:
        raise Unsupported(
            f"flex attention runs forward only on CPU in torch {torch.__version__} (no backward); "
            "train with the sdpa or eager backend"
        )
    score_mod = None
    if inp.bias is not None:
        # Without a cache q_pos and k_pos are one tensor. Compiled code guards on such
        # aliasing, so alternating with decoding (two tensors) would recompile; a copy of
        # T integers keeps one compiled kernel for both.
        k_pos = inp.k_pos.clone() if inp.k_pos is inp.q_pos else inp.k_pos
        score_mod = inp.bias.score_mod(inp.q_pos, k_pos)
    block_mask = inp.flex_block_mask(k.shape[-2], q.device)
    # Compiled code guards on strides: a head-transposed view (NoPE's q, k, v) and a rotated,
    # contiguous tensor (RoPE's q, k) would each compile their own kernel (seconds per shape).
    # One layout for every caller costs a copy of q, k, v and keeps one kernel per shape.
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    if inp.compile_flex:
        return compiled_flex_attention()(q, k, v, score_mod=score_mod, block_mask=block_mask)
    from torch.nn.attention.flex_attention import flex_attention as flex_uncompiled

    with warnings.catch_warnings():  # uncompiled flex warns that it materializes the scores: we know
        warnings.simplefilter("ignore", UserWarning)
        return flex_uncompiled(q, k, v, score_mod=score_mod, block_mask=block_mask)


Backend = Callable[[Tensor, Tensor, Tensor, AttentionInputs], Tensor]

BACKENDS: dict[str, Backend] = {
    "eager": eager_attention,
    "sdpa": sdpa_attention,
    "flex": flex_attention,
}


def check_backend(name: str) -> str:
    """``name`` if it is a backend; otherwise InputError listing the valid ones."""
    if name not in BACKENDS:
        raise InputError(f"unknown backend '{name}'; valid: {', '.join(BACKENDS)}")
    return name
