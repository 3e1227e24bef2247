"""What attention needs to know about positions, built once per forward pass and shared by layers.

Shape letters: Tq queries, S key slots, H heads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from pe_bench.encodings.base import AttentionBias, QKTransform


@dataclass
class AttentionInputs:
    """What attention needs to know about positions; built once per forward, shared by layers."""

    q_pos: Tensor  # (Tq,) positions of the queries
    k_pos: Tensor  # (S,) positions of every key slot; only [0, kv_len) are meaningful
    kv_len: int  # number of valid key slots
    causal: bool  # query i sees keys up to slot kv_len - Tq + i
    bias: AttentionBias | None = None
    allowed: Tensor | None = None  # (Tq, kv_len) bool, True = may attend; replaces the causal rule
    transform: QKTransform | None = None  # applied to queries, and to new keys when the cache stores transformed keys
    key_transform: QKTransform | None = None  # applied to all S cached keys (caches that store raw keys)
    compile_flex: bool = True
    _memo: dict[object, object] = field(default_factory=dict, repr=False)

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
        """Bias and mask folded into one float (1 or B, H, Tq, kv_len) tensor, a bool mask, or None.

        Built on first use and shared by every layer of this forward pass. Four dimensions
        on purpose: SDPA's CPU flash kernel accepts a 4-D mask but falls back to the much
        slower math kernel for a 3-D one.
        """
        return self.memo(("dense mask", dtype), lambda: self._build_dense_mask(dtype))

    def _build_dense_mask(self, dtype: torch.dtype) -> Tensor | None:
        allowed = self.allowed_matrix()
        if self.bias is None:
            return None if allowed is None else allowed[None, None]  # (1, 1, Tq, kv_len)
        bias = self._materialized(dtype)
        return bias if allowed is None else bias.masked_fill(~allowed, float("-inf"))

    def bias_matrix(self, dtype: torch.dtype) -> Tensor:
        """The bias alone, no mask, as a (1 or B, H, Tq, kv_len) tensor; built once per forward pass."""
        return self.memo(("bias matrix", dtype), lambda: self._materialized(dtype))

    def _materialized(self, dtype: torch.dtype) -> Tensor:
        bias = self.bias.materialize(self.q_pos, self.k_pos[: self.kv_len]).to(dtype)  # ([B,] H, Tq, kv_len)
        return bias if bias.dim() == 4 else bias[None]  # (1 or B, H, Tq, kv_len): a contextual bias is per row

    def memo(self, key: object, build: Callable[[], object]) -> object:
        """``build()``, computed on the first call with ``key`` and shared by every layer after it."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]


def valid_keys(k: Tensor, v: Tensor, inputs: AttentionInputs) -> tuple[Tensor, Tensor]:
    """Keys and values restricted to the valid slots (views, no copy)."""
    n = inputs.kv_len
    return k[..., :n, :], v[..., :n, :]
