"""A bias folded into extra query/key columns, so SDPA's fused causal kernel runs with no mask.

A bias that declares ``causal_fold`` (ALiBi: -m (i - j) = m j + a per-query constant) gets
its columns appended to queries and keys; values get as many zero columns, because the CPU
flash kernel needs q, k and v to share the head dimension (otherwise SDPA silently runs its
slow math kernel), and the output drops them again. The scale stays 1/sqrt(D) of the real
head dimension, and the query columns are multiplied by sqrt(D) so the bias is not scaled.
Nothing of shape (H, Tq, S) is built. The fold is used only where it is exact:

- the mask is the plain causal one over the same positions (a forward pass, or a prefill of
  an empty cache), the positions non-decreasing so every visible key is at or before its
  query. Not a single decoding query: folding would copy every cached key and value into
  wider tensors in every layer at every step (measured: ALiBi decoding at a 4096-token
  context took 1.8x NoPE's time), while its bias row, (H, 1, S), costs next to nothing;
- float32 or wider: the key columns carry positions, which half precision rounds.

Shape letters: B batch, H heads, Tq queries, S key slots, D head_dim, n fold columns.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from pe_bench.backends.inputs import AttentionInputs

FOLD_DTYPES = (torch.float32, torch.float64)


def fold_columns(inputs: AttentionInputs, dtype: torch.dtype) -> tuple[Tensor, Tensor] | None:
    """The bias's (query, key) columns when folding is exact for this step, else None."""
    bias = inputs.bias
    if bias is None or dtype not in FOLD_DTYPES or not inputs.causal or inputs.allowed is not None:
        return None
    q_pos, k_pos = inputs.q_pos, inputs.k_pos[: inputs.kv_len]
    if inputs.n_queries == 1 or inputs.n_queries != inputs.kv_len or not torch.equal(q_pos, k_pos):
        return None
    if bool((q_pos[1:] < q_pos[:-1]).any()):
        return None
    fold = getattr(bias, "causal_fold", None)  # a duck-typed bias may not have the optional method
    columns = fold(q_pos, k_pos) if fold is not None else None
    if columns is None:
        return None
    q_columns, k_columns = columns
    return q_columns.to(dtype), k_columns.to(dtype)


def folded_attention(q: Tensor, k: Tensor, v: Tensor, inputs: AttentionInputs) -> Tensor | None:
    """SDPA with the bias folded into extra columns, or None where folding is not exact.

    ``k`` and ``v`` hold the valid key slots only.
    """
    columns = inputs.memo(("causal fold", q.dtype), lambda: fold_columns(inputs, q.dtype))
    if columns is None:
        return None
    q_columns, k_columns = columns
    B, H, Tq, D = q.shape
    S, n = k.shape[-2], k_columns.shape[-1]
    q = torch.cat([q, (q_columns * math.sqrt(D)).expand(B, H, Tq, n)], dim=-1)  # (B, H, Tq, D + n)
    k = torch.cat([k, k_columns.expand(B, H, S, n)], dim=-1)  # (B, H, S, D + n)
    v = F.pad(v, (0, n))  # (B, H, S, D + n): the flash kernel wants one head dimension
    out = F.scaled_dot_product_attention(q, k, v, is_causal=Tq > 1, scale=1.0 / math.sqrt(D))
    return out[..., :D]
