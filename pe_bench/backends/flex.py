"""The flex backend: torch's flex_attention, the bias as a ``score_mod`` inside the kernel.

The mask is a block mask and the (H, Tq, S) bias is never built. Compiled once per shape
(the compiled function is cached); on CPU torch runs it forward only (a backward through it
raises Unsupported). Keys and values may be a KV cache's whole buffer: flex keeps its fixed
shape so one compiled kernel serves every decoding step. Shape letters: B batch, H heads, Tq queries, S key slots, D head_dim.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable

import torch
from torch import Tensor

from pe_bench.backends.inputs import AttentionInputs
from pe_bench.errors import Unsupported


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


def _mask_mod(inputs: AttentionInputs, n_slots: int, device: torch.device) -> Callable:
    """The flex mask_mod for this step; ints live in tensors so new steps do not recompile."""
    if inputs.allowed is not None:
        allowed = torch.zeros(inputs.n_queries, n_slots, dtype=torch.bool, device=device)
        allowed[:, : inputs.kv_len] = inputs.allowed
        return lambda b, h, q_idx, kv_idx: allowed[q_idx, kv_idx]
    kv_len = torch.tensor(inputs.kv_len, device=device)
    if inputs.causal and inputs.n_queries > 1:
        past = torch.tensor(inputs.kv_len - inputs.n_queries, device=device)
        return lambda b, h, q_idx, kv_idx: (kv_idx <= q_idx + past) & (kv_idx < kv_len)
    return lambda b, h, q_idx, kv_idx: kv_idx < kv_len


FLEX_BLOCK = 128  # flex_attention's default block size, passed explicitly where we build masks


def warm_up_flex_compiler(device: torch.device) -> float:
    """Compile one tiny flex kernel; returns the seconds it took.

    The first compilation in a process also starts dynamo and inductor (many seconds); doing
    it here keeps that one-time cost out of the compile time reported for any encoding.
    """
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


def build_block_mask(inputs: AttentionInputs, n_slots: int, device: torch.device):  # noqa: ANN202
    """Always a BlockMask, never None: torch's recompilation check crashes when flex alternates
    between calls with and without one."""
    from torch.nn.attention.flex_attention import create_block_mask

    if inputs.allowed is None and inputs.n_queries == 1:
        return _one_query_block_mask(_mask_mod(inputs, n_slots, device), inputs.kv_len, n_slots, device)
    if inputs.allowed is None and inputs.kv_len == n_slots and (inputs.n_queries == n_slots or not inputs.causal):
        return _full_sequence_block_mask(inputs.n_queries, n_slots, inputs.causal, device)
    return create_block_mask(_mask_mod(inputs, n_slots, device), None, None, inputs.n_queries, n_slots, device=device,
                             BLOCK_SIZE=FLEX_BLOCK)


class _ForwardOnly(torch.autograd.Function):
    """Flex attention where torch has no backward for it (CPU): the forward runs without a graph,
    and a backward that reaches it raises Unsupported saying what to do instead.

    Its tensor inputs are whatever a gradient could flow to (q, k, v, the bias's parameters),
    so the output requires grad exactly when theirs do and no gradient is ever dropped silently.
    """

    @staticmethod
    def forward(ctx: object, attend: Callable[[Tensor, Tensor, Tensor], Tensor], q: Tensor, k: Tensor, v: Tensor,
                *bias_probe: Tensor) -> Tensor:
        return attend(q.detach(), k.detach(), v.detach())  # flex refuses CPU inputs that require grad

    @staticmethod
    def backward(ctx: object, *grads: Tensor) -> None:
        raise Unsupported(
            f"flex attention runs forward only on CPU in torch {torch.__version__} (no backward): "
            "train with the sdpa or eager backend; a forward alone (inference) needs no change, though "
            "torch.no_grad() or torch.inference_mode() around it spares building the graph"
        )


def _bias_probe(score_mod: Callable | None, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, ...]:
    """One entry of the bias, computed outside the kernel: it requires grad exactly when the
    tensors the score_mod closes over (a learned bias's parameters) do."""
    if score_mod is None:
        return ()
    zero = torch.zeros((), dtype=torch.long, device=device)
    return (score_mod(torch.zeros((), dtype=dtype, device=device), zero, zero, zero, zero),)


def flex_attention(q: Tensor, k: Tensor, v: Tensor, inputs: AttentionInputs) -> Tensor:
    """flex_attention with the bias as a score_mod and the mask as a block mask.

    On CPU torch has no backward for it: a forward runs whether or not gradients are enabled
    (an ``.eval()`` model needs no ``torch.no_grad()``); a backward through it raises Unsupported.
    """
    score_mod = None
    if inputs.bias is not None:
        # Without a cache q_pos and k_pos are one tensor. Compiled code guards on such
        # aliasing, so alternating with decoding (two tensors) would recompile; a copy of
        # T integers keeps one compiled kernel for both.
        k_pos = inputs.k_pos.clone() if inputs.k_pos is inputs.q_pos else inputs.k_pos
        score_mod = inputs.bias.score_mod(inputs.q_pos, k_pos)
    n_slots = k.shape[-2]
    block_mask = inputs.memo(("flex_block_mask", n_slots, q.device), lambda: build_block_mask(inputs, n_slots, q.device))
    # Compiled code guards on strides: a head-transposed view (NoPE's q, k, v) and a rotated,
    # contiguous tensor (RoPE's q, k) would each compile their own kernel (seconds per shape).
    # One layout for every caller costs a copy of q, k, v and keeps one kernel per shape.
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()

    def attend(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        if inputs.compile_flex:
            return compiled_flex_attention()(q, k, v, score_mod=score_mod, block_mask=block_mask)
        from torch.nn.attention.flex_attention import flex_attention as flex_uncompiled

        with warnings.catch_warnings():  # uncompiled flex warns that it materializes the scores: we know
            warnings.simplefilter("ignore", UserWarning)
            return flex_uncompiled(q, k, v, score_mod=score_mod, block_mask=block_mask)

    if q.device.type == "cpu" and torch.is_grad_enabled():
        return _ForwardOnly.apply(attend, q, k, v, *_bias_probe(score_mod, q.dtype, q.device))
    return attend(q, k, v)
