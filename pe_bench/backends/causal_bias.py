"""A bias as the CPU flash kernel's mask, with its causal flag: the future is skipped, not masked.

Where neither the fold nor the split applies (a bias of every distance, such as KERPLE, FIRE,
Sandwich, CoPE or a user's), SDPA's dense path hands the kernel one float mask with -inf above the diagonal, and the kernel works
through every block of the (Tq, S) square, the future's half included. The CPU flash op
takes a mask and the causal flag together (``F.scaled_dot_product_attention`` does not);
then it skips the blocks above the diagonal and reads the bias only below it. Measured on
the kernel alone (batch 4, 4 heads, 2 threads): head dim 32, T = 1024 / 2048, 37 / 125 ms
with no bias, 42 / 138 ms with the bias and the flag, 55 / 220 ms with the -inf mask.

Used for a plain causal step over the same slots (a forward pass or the prefill of an empty
cache), float32 or float64, on CPU with torch's private flash ops. The bias is still an
(H, Tq, S) tensor, built once per forward pass. A bias that needs a gradient gets it here
as in sdpa.py's ``_SDPAWithLearnedBias``: the kernel's backward op gives q, k and v theirs,
and the bias's, dS (score_gradient.py), is computed a block of queries at a time from the
saved log-sum-exp over the keys at or before each query. Shape letters: B batch,
H heads, T queries = keys, D head_dim.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pe_bench.backends.inputs import AttentionInputs
from pe_bench.backends.score_gradient import block_score_gradient, row_dots, shared_by_batch

BIAS_DTYPES = (torch.float32, torch.float64)
CHUNK = 256  # query rows per block of the bias's gradient: bounds its extra memory to (B, H, 256, T)


def missing_flash_ops(device: torch.device) -> str | None:
    """Why torch's CPU flash ops cannot run on ``device`` in this torch, or None when they can."""
    if device.type != "cpu":
        return f"the fused bias paths use torch's CPU flash ops; on {device.type} the bias is a dense mask"
    ops = torch.ops.aten
    for name in ("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention_for_cpu_backward"):
        if not hasattr(ops, name):
            return f"torch {torch.__version__} has no aten.{name}: the bias is a dense mask"
    return None


def unit_stride(*tensors: Tensor) -> tuple[Tensor, ...]:
    """``tensors`` with a contiguous last dimension, copied only where it is not.

    The private flash ops assume it and do not check (a transposed view gives wrong numbers,
    where the public SDPA would copy or pick another kernel)."""
    return tuple(t if t.stride(-1) == 1 else t.contiguous() for t in tensors)


def causal_bias_attention(q: Tensor, k: Tensor, v: Tensor, inputs: AttentionInputs) -> Tensor | None:
    """The flash kernel with the causal flag and the bias alone as its mask, or None where that is not exact."""
    plain_causal = inputs.causal and inputs.allowed is None and inputs.n_queries == inputs.kv_len
    if inputs.bias is None or not plain_causal or q.dtype not in BIAS_DTYPES or missing_flash_ops(q.device):
        return None
    q, k, v = unit_stride(q, k, v)
    bias = inputs.bias_matrix(q.dtype)  # (1 or B, H, T, T)
    if bias.requires_grad:
        return _CausalFlashWithBias.apply(q, k, v, bias)
    return _causal_flash(q, k, v, bias)[0]


def _causal_flash(q: Tensor, k: Tensor, v: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    """(out, log-sum-exp) of the CPU flash op with the causal flag and ``bias`` as its mask."""
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, True, attn_mask=bias,
                                                                      scale=1.0 / math.sqrt(q.shape[-1]))


class _CausalFlashWithBias(torch.autograd.Function):
    """The causal flash kernel with a bias that needs a gradient; exact gradients for q, k, v and the bias."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, bias: Tensor) -> Tensor:  # noqa: ANN001
        out, lse = _causal_flash(q, k, v, bias)
        ctx.save_for_backward(q, k, v, bias, out, lse)
        return out

    @staticmethod
    def backward(ctx, d_out: Tensor) -> tuple[Tensor, ...]:  # noqa: ANN001
        q, k, v, bias, out, lse = ctx.saved_tensors
        scale = 1.0 / math.sqrt(q.shape[-1])
        d_out = d_out.contiguous()
        dq, dk, dv = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
            d_out, q, k, v, out, lse, 0.0, True, attn_mask=bias, scale=scale)
        d_bias = torch.zeros_like(bias)  # (1 or B, H, T, T); zero above the diagonal
        dots = row_dots(d_out, out)  # (B, H, T, 1)
        for a in range(0, q.shape[-2], CHUNK):
            b = min(a + CHUNK, q.shape[-2])  # queries [a, b) see keys [0, b)
            scores = (q[..., a:b, :] @ k[..., :b, :].transpose(-2, -1)).mul_(scale).add_(bias[..., a:b, :b])
            future = torch.arange(a, b, device=q.device)[:, None] < torch.arange(b, device=q.device)[None, :]
            p = torch.exp(scores.sub_(lse[..., a:b, None])).masked_fill_(future, 0.0)  # (B, H, b-a, b)
            d_scores = block_score_gradient(p, d_out[..., a:b, :], v[..., :b, :], dots[..., a:b, :])
            d_bias[..., a:b, :b] = shared_by_batch(d_scores, bias.shape[0])
        return dq, dk, dv, d_bias
