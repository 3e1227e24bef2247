"""A bias that is constant far away, split so the far part runs SDPA's fused kernel with no bias.

A bias that declares ``far_constant`` (T5: every distance from 113 on, causal, shares the
last bucket) gives, for each query i, keys j <= i - W one constant per head and keys in the
near band i - W < j <= i their own values. So attention splits into

- a far part with no bias: the CPU flash kernel, causal, on shifted views (queries W.. against
  keys ..T-W), which returns its output and log-sum-exp; the constant adds to the latter;
- a near band of width W with the bias, on the same kernel with the bias as its mask: a
  block of 128 queries sees the 128 + W - 1 keys ending at its last query, and every block
  has the same (H, 128, 128 + W - 1) bias, so the blocks run in one call, stacked along the
  batch, and the first block, whose window would start before key 0, in one square call of
  its own (never an (H, T, T) tensor; measured on the kernels alone, batch 4, 4 heads, 2
  threads, T = 1024 / 2048: head dim 32, 39 / 77 ms by hand in blocks, 20 / 40 ms fused);

merged by log-sum-exp, as ring attention merges blocks. The backward passes the merged
output and log-sum-exp to the flash kernel's backward op for the far part's exact
gradients, and works the band's out by hand, the per-distance values' gradient included;
the far constant's gradient is minus the sum of the band's (softmax gradients sum to zero
in every row). Rows i < W see no far key: they are the band's alone.

Used only where that is exact: a plain causal mask over the same, consecutive positions (a
forward pass or the prefill of an empty cache), float32 or wider, on CPU with torch's
private flash ops present (``missing_flash_ops`` says why not otherwise), in inference and
in training alike. Everything else (a decoding step's single query, window and sinks caches,
explicit masks) keeps the dense path. Shape letters: B batch, H heads, T queries = keys, D head_dim, W band width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from pe_bench.backends.causal_bias import missing_flash_ops, unit_stride
from pe_bench.backends.inputs import AttentionInputs
from pe_bench.backends.score_gradient import block_score_gradient, row_dots

SPLIT_DTYPES = (torch.float32, torch.float64)
BLOCK = 128  # queries per band block: each block sees the 128 + W - 1 keys ending at its last query


def split_plan(inputs: AttentionInputs, q: Tensor) -> tuple[Tensor, Tensor] | None:
    """The bias's (near, far) values when the split is exact for this step, else None."""
    declared = getattr(inputs.bias, "far_constant", None)  # a duck-typed bias may not have the optional method
    far = declared() if declared is not None else None
    if far is None or q.dtype not in SPLIT_DTYPES or missing_flash_ops(q.device) is not None:
        return None
    if not inputs.causal or inputs.allowed is not None or inputs.n_queries != inputs.kv_len or inputs.n_queries < 2:
        return None
    q_pos, k_pos = inputs.q_pos, inputs.k_pos[: inputs.kv_len]
    if not torch.equal(q_pos, k_pos) or not bool((q_pos[1:] - q_pos[:-1] == 1).all()):
        return None  # slot distance must be position distance
    return far


def split_attention(q: Tensor, k: Tensor, v: Tensor, inputs: AttentionInputs) -> Tensor | None:
    """Attention with a far-constant bias split into a fused far part and a near band, or None."""
    plan = inputs.memo(("far split", q.dtype, q.device), lambda: split_plan(inputs, q))
    if plan is None:
        return None
    near, far = plan
    return _SplitAttention.apply(*unit_stride(q, k, v), near.to(q.dtype), far.to(q.dtype))


def _distance(n_queries: int, n_keys: int, device: torch.device) -> Tensor:
    """(n_queries, n_keys) query-key distances of queries against the n_keys keys ending at the last query."""
    return (torch.arange(n_queries, device=device)[:, None] + (n_keys - n_queries)
            - torch.arange(n_keys, device=device)[None, :])


def _band_bias(near: Tensor, distance: Tensor) -> Tensor:
    """(H, *distance.shape): the band's bias at each distance, -inf outside the band (the future, or W and beyond)."""
    width = near.shape[-1]
    return near[:, distance.clamp(0, width - 1)].masked_fill(((distance < 0) | (distance >= width))[None], float("-inf"))


def _near_band(q: Tensor, k: Tensor, v: Tensor, near: Tensor, scale: float) -> tuple[Tensor, Tensor]:
    """Every query against the keys of its band, on the flash kernel with the bias as its mask; (out, lse).

    A block of BLOCK queries sees the BLOCK + W - 1 keys ending at its last query, and every
    block whose window starts at key 0 or later has the same bias, so those blocks run in one
    call, stacked along the batch (their key windows overlap: one copy of k and v each). The
    first blocks, whose window would start before key 0, run as one square call of their own.
    """
    B, H, T, D = q.shape
    width = near.shape[-1]
    flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    head = min(T, BLOCK * max(1, math.ceil((width - 1) / BLOCK)))  # queries whose window would start before key 0
    out, lse = flash(q[..., :head, :], k[..., :head, :], v[..., :head, :], 0.0, False,
                     attn_mask=_band_bias(near, _distance(head, head, q.device))[None], scale=scale)
    if T == head:
        return out, lse
    n_blocks, keys = math.ceil((T - head) / BLOCK), BLOCK + width - 1
    pad = head + n_blocks * BLOCK - T  # the last block's missing queries and keys: zeros, dropped (keys masked as future)

    def stacked(x: Tensor, first: int, size: int) -> Tensor:  # (n_blocks * B, H, size, D), block-major
        x = F.pad(x, (0, 0, 0, pad))[..., first:, :].unfold(-2, size, BLOCK)  # (B, H, n_blocks, D, size)
        return x.permute(2, 0, 1, 4, 3).reshape(n_blocks * B, H, size, D)

    first_key = head - width + 1
    block_out, block_lse = flash(stacked(q, head, BLOCK), stacked(k, first_key, keys), stacked(v, first_key, keys),
                                 0.0, False, attn_mask=_band_bias(near, _distance(BLOCK, keys, q.device))[None], scale=scale)
    block_out = block_out.view(n_blocks, B, H, BLOCK, D).permute(1, 2, 0, 3, 4).reshape(B, H, -1, D)[..., : T - head, :]
    block_lse = block_lse.view(n_blocks, B, H, BLOCK).permute(1, 2, 0, 3).reshape(B, H, -1)[..., : T - head]
    return torch.cat([out, block_out], dim=-2), torch.cat([lse, block_lse], dim=-1)


def _band(q: Tensor, k: Tensor, near: Tensor, a: int, b: int, scale: float) -> tuple[Tensor, int, Tensor]:
    """Biased scores of queries [a, b) against the keys in their band; (scores, first key, distance index)."""
    first = max(0, a - near.shape[-1] + 1)
    distance = _distance(b - a, b - first, q.device)  # (b-a, n)
    scores = (q[..., a:b, :] @ k[..., first:b, :].transpose(-2, -1)).mul_(scale).add_(_band_bias(near, distance))
    return scores, first, distance.clamp(0, near.shape[-1] - 1)  # scores (B, H, b-a, n)


class _SplitAttention(torch.autograd.Function):
    """Far part and near band on the flash kernel, merged by log-sum-exp; exact gradients (the band's by hand)."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, near: Tensor, far: Tensor) -> Tensor:  # noqa: ANN001
        T, D, width = q.shape[-2], q.shape[-1], near.shape[-1]
        scale = 1.0 / math.sqrt(D)
        far_value = far.view(1, -1, 1)  # (1, H, 1): the bias at every distance >= W
        out, lse = _near_band(q, k, v, near, scale)
        if T > width:
            far_out, far_lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
                q[..., width:, :], k[..., : T - width, :], v[..., : T - width, :], 0.0, True, scale=scale)
            far_lse = far_lse + far_value  # (B, H, T - W)
            near_lse = lse[..., width:]
            merged = torch.logaddexp(near_lse, far_lse)
            out[..., width:, :] = (torch.exp(near_lse - merged)[..., None] * out[..., width:, :]
                                   + torch.exp(far_lse - merged)[..., None] * far_out)
            lse[..., width:] = merged
        ctx.save_for_backward(q, k, v, near, far, out, lse)
        return out

    @staticmethod
    def backward(ctx, d_out: Tensor) -> tuple[Tensor | None, ...]:  # noqa: ANN001
        q, k, v, near, far, out, lse = ctx.saved_tensors
        T, D, width = q.shape[-2], q.shape[-1], near.shape[-1]
        scale = 1.0 / math.sqrt(D)
        d_out = d_out.contiguous()
        dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
        d_near, d_far = torch.zeros_like(near), torch.zeros_like(far)
        if T > width:
            far_value = far.view(1, -1, 1)
            far_dq, far_dk, far_dv = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
                d_out[..., width:, :], q[..., width:, :], k[..., : T - width, :], v[..., : T - width, :],
                out[..., width:, :].contiguous(), (lse[..., width:] - far_value).contiguous(), 0.0, True, scale=scale)
            dq[..., width:, :] += far_dq
            dk[..., : T - width, :] += far_dk
            dv[..., : T - width, :] += far_dv
        dots = row_dots(d_out, out)  # (B, H, T, 1)
        for a in range(0, T, BLOCK):
            b = min(a + BLOCK, T)
            scores, first, index = _band(q, k, near, a, b, scale)
            p = torch.exp(scores - lse[..., a:b, None])  # the merged softmax's band entries
            dv[..., first:b, :] += p.transpose(-2, -1) @ d_out[..., a:b, :]
            d_scores = block_score_gradient(p, d_out[..., a:b, :], v[..., first:b, :], dots[..., a:b, :])
            dq[..., a:b, :] += (d_scores @ k[..., first:b, :]) * scale
            dk[..., first:b, :] += (d_scores.transpose(-2, -1) @ q[..., a:b, :]) * scale
            per_head = d_scores.sum(0)  # (H, b-a, n): the bias is shared by the batch
            H = near.shape[0]
            d_near.scatter_add_(1, index.reshape(1, -1).expand(H, -1), per_head.reshape(H, -1))
            d_far -= per_head.sum((1, 2))  # the far keys' share: every row's gradients sum to zero
        return dq, dk, dv, d_near, d_far
