"""ALiBi, attention with linear biases (Press et al. 2022).

The logit of query i and key j gets -m_h * |i - j|; there are no position embeddings
anywhere and no parameters. The bias is not multiplied by 1/sqrt(head_dim).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pe_bench.encodings.base import AttentionBias, Family, PositionalEncoding, ScoreMod


def _geometric_slopes(n: int) -> list[float]:
    start = 2.0 ** (-8.0 / n)  # first term and ratio are both 2^(-8/n)
    return [start ** (i + 1) for i in range(n)]


def alibi_slopes(n_heads: int) -> Tensor:
    """The paper's head slopes m_h, float32 of shape (n_heads,).

    For a power of two H: the geometric sequence 2^(-8/H), 2^(-16/H), ... (8 heads: 1/2 ..
    1/256). Otherwise: the slopes for the largest power of two P < H, then every other
    slope of the 2P sequence (its 1st, 3rd, 5th, ...) until there are H.
    """
    if n_heads < 1:
        raise ValueError(f"n_heads must be >= 1, got {n_heads}")
    p = 2 ** int(math.floor(math.log2(n_heads)))
    slopes = _geometric_slopes(p) + _geometric_slopes(2 * p)[0::2][: n_heads - p]
    return torch.tensor(slopes, dtype=torch.float32)


class LinearDistanceBias(AttentionBias):
    """bias[h, i, j] = -slopes[h] * |q_pos[i] - k_pos[j]|."""

    def __init__(self, slopes: Tensor) -> None:
        self.slopes = slopes  # (H,)

    def materialize(self, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        distance = (q_pos[:, None] - k_pos[None, :]).abs().to(self.slopes.dtype)  # (Tq, S)
        return -self.slopes[:, None, None] * distance  # (H, Tq, S)

    def score_mod(self, q_pos: Tensor, k_pos: Tensor) -> ScoreMod:
        slopes = self.slopes

        def add_bias(score: Tensor, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            distance = torch.abs(q_pos[q_idx] - k_pos[kv_idx])
            return score - slopes[h] * distance

        return add_bias

    def causal_fold(self, q_pos: Tensor, k_pos: Tensor) -> tuple[Tensor, Tensor]:
        """-m (i - j) = m (j - r) - m (i - r): the query column is the slope, the key column
        its position relative to r, the middle of the queries' positions, which keeps the
        numbers (and float32 rounding) small; -m (i - r) is a per-query constant."""
        reference = (q_pos.min() + q_pos.max()) // 2
        q_columns = self.slopes[:, None, None]  # (H, 1, 1)
        k_columns = (k_pos - reference).to(self.slopes.dtype)[None, :, None]  # (1, S, 1)
        return q_columns, k_columns


class ALiBi(PositionalEncoding):
    """A fixed linear penalty on distance, one slope per head.

    Bidirectional use applies the same penalty on both sides (symmetric ALiBi).
    """

    name = "alibi"
    family = Family.BIAS
    shift_invariant = True
    description = "fixed per-head linear penalty on query-key distance (Press et al. 2022)"

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal)
        self.register_buffer("slopes", alibi_slopes(n_heads), persistent=False)  # (H,)

    def attention_bias(self, dtype: torch.dtype) -> LinearDistanceBias:
        return LinearDistanceBias(self.slopes.to(dtype))
