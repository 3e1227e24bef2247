"""The SDPA backends: torch's scaled_dot_product_attention, ``sdpa`` and ``sdpa-dense``.

No bias and a plain causal mask run the fused kernel (``is_causal``). A bias keeps the fused
kernel in ``sdpa`` through the first fast path that is exact for the step: folded into extra
query/key columns (``AttentionBias.causal_fold``, fold.py), split into a bias-free far part
and a near band (``AttentionBias.far_constant``, split.py), or, for any bias on a plain
causal step, handed to the CPU flash kernel as its mask together with the causal flag
(causal_bias.py). Otherwise — and always in ``sdpa-dense``, the naive path kept
measurable — it goes in as a dense float mask with -inf above the diagonal, built once per
forward pass, over which the kernel computes the whole square. A bias that needs a
gradient there (a cache's prefill after cached keys) keeps the fused kernel on CPU through
``_SDPAWithLearnedBias``. Shape letters: B batch, H heads, Tq queries, S key
slots, D head_dim.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from pe_bench.backends.causal_bias import causal_bias_attention
from pe_bench.backends.fold import folded_attention
from pe_bench.backends.inputs import AttentionInputs, valid_keys
from pe_bench.backends.score_gradient import block_score_gradient, row_dots, shared_by_batch
from pe_bench.backends.split import split_attention


def sdpa_attention(q: Tensor, k: Tensor, v: Tensor, inputs: AttentionInputs) -> Tensor:
    """SDPA with a bias's fast paths (fold.py, split.py, causal_bias.py), else ``sdpa_dense_attention``."""
    k, v = valid_keys(k, v, inputs)
    if inputs.bias is not None:
        for fast_path in (folded_attention, split_attention, causal_bias_attention):
            out = fast_path(q, k, v, inputs)
            if out is not None:
                return out
    return sdpa_dense_attention(q, k, v, inputs)


def sdpa_dense_attention(q: Tensor, k: Tensor, v: Tensor, inputs: AttentionInputs) -> Tensor:
    """torch's scaled_dot_product_attention; fused causal kernel when there is no bias, else a dense mask."""
    k, v = valid_keys(k, v, inputs)
    plain_causal = inputs.causal and inputs.allowed is None and inputs.n_queries == inputs.kv_len
    if inputs.bias is None and plain_causal:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    mask = inputs.dense_mask(q.dtype)
    if mask is not None and mask.requires_grad and q.device.type == "cpu":
        past = inputs.kv_len - inputs.n_queries if inputs.causal and inputs.allowed is None else None
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
        dots = row_dots(d_out, out)  # (B, H, Tq, 1)
        for a in range(0, q.shape[-2], _SDPAWithLearnedBias.CHUNK):
            b = min(a + _SDPAWithLearnedBias.CHUNK, q.shape[-2])
            n = k.shape[-2] if ctx.past is None else min(k.shape[-2], b + ctx.past)  # keys visible to the block
            scores = q[..., a:b, :] @ k[..., :n, :].transpose(-2, -1)  # (B, H, b-a, n)
            p = torch.softmax(scores.mul_(scale).add_(mask[..., a:b, :n]), dim=-1)
            d_scores = block_score_gradient(p, d_out[..., a:b, :], v[..., :n, :], dots[..., a:b, :])
            d_mask[..., a:b, :n] = shared_by_batch(d_scores, mask.shape[0])
        return dq, dk, dv, d_mask, None
