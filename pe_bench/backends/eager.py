"""The eager backend: softmax(Q K^T / sqrt(D) + bias) V written out, bias and mask materialized.

The reference every other backend is tested against. Shape letters: B batch, H heads,
Tq queries, S key slots, D head_dim.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pe_bench.backends.inputs import AttentionInputs, valid_keys


def eager_attention(q: Tensor, k: Tensor, v: Tensor, inputs: AttentionInputs) -> Tensor:
    """softmax(Q K^T / sqrt(D) + bias) V, everything materialized. Returns (B, H, Tq, D)."""
    k, v = valid_keys(k, v, inputs)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, H, Tq, kv_len)
    mask = inputs.dense_mask(scores.dtype)
    if mask is not None and mask.dtype == torch.bool:
        scores = scores.masked_fill(~mask, float("-inf"))
    elif mask is not None:
        scores = scores + mask  # bias with -inf where masked
    return torch.softmax(scores, dim=-1) @ v
