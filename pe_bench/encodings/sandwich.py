"""Sandwich (Chi et al. 2023, "Dissecting transformer length extrapolation via the lens of
receptive field analysis"): a fixed bias from the dot product of two sinusoidal embeddings.

The logit of query i and key j gets, in head h = 1 .. H,

    bias_h(i, j) = (sum_{k=1}^{d'/2} cos((i - j) / 10000^(2k/d')) - d'/2) / (8h / H),

the inner product of the sinusoidal embeddings of positions i and j, shifted so that distance
0 gives 0 (every other distance gives less), and divided per head as ALiBi's slopes divide:
head 1 is the sharpest. No parameters; it depends on i - j alone (cos is even, so the same on
both sides of the query), so it is shift-invariant. The bias is not multiplied by
1/sqrt(head_dim). Near the query it falls like a quadratic, further away it oscillates around
-d'/2 / (8h/H) instead of growing, which is the paper's point: a receptive field that stops
widening.

d' is a free choice in the paper; pe-bench takes the head dim by default (the ``dim`` option
sets another). The cosines are summed in float64 and then cast, so large distances stay
accurate.

Cost. The bias is a function of the distance, but not constant past any distance (it
oscillates), so T5's clamped table cannot hold it. A forward pass computes it instead once
for every distance its positions reach — a (H, 2D + 1) table, D the largest |i - j| — and the
dense backends and flex's ``score_mod`` read it as T5's table is read; layers sharing
positions share the table. D is read on the host (one device sync per table).
"""

from __future__ import annotations

import torch
from torch import Tensor

from pe_bench.encodings.base import AttentionBias, Family, PositionalEncoding, ScoreMod
from pe_bench.encodings.t5 import DistanceTableBias
from pe_bench.errors import InputError

BASE = 10000.0
HEAD_DIVISOR = 8.0  # head h divides by 8h/H


def sandwich_bias(distance: Tensor, dim: int, n_heads: int) -> Tensor:
    """(sum_{k=1}^{dim/2} cos(distance / 10000^(2k/dim)) - dim/2) / (8h/H) for h = 1 .. n_heads.

    Args:
        distance: i - j, any shape (integers or floats); the sign does not matter.
        dim: d', even.
        n_heads: H.

    Returns:
        float64 of shape (n_heads, *distance.shape).
    """
    if dim < 2 or dim % 2:
        raise ValueError(f"need an even dim >= 2, got {dim}")
    k = torch.arange(1, dim // 2 + 1, dtype=torch.float64, device=distance.device)
    inv_freq = BASE ** (-2 * k / dim)  # (d'/2,)
    angles = distance.to(torch.float64)[..., None] * inv_freq  # (*shape, d'/2)
    kernel = torch.cos(angles).sum(-1) - dim / 2  # (*shape)
    heads = torch.arange(1, n_heads + 1, dtype=torch.float64, device=distance.device)
    divisor = HEAD_DIVISOR * heads / n_heads  # (H,)
    return kernel[None] / divisor.reshape((n_heads,) + (1,) * distance.dim())  # (H, *shape)


class SandwichBias(AttentionBias):
    """bias[h, i, j] = sandwich_bias(q_pos[i] - k_pos[j], dim, H)[h], read from a per-distance table."""

    def __init__(self, dim: int, n_heads: int, dtype: torch.dtype) -> None:
        self.dim, self.n_heads, self.dtype = dim, n_heads, dtype
        self._tables: dict[int, DistanceTableBias] = {}  # by reach D: one per forward pass, as a rule

    def table(self, q_pos: Tensor, k_pos: Tensor) -> DistanceTableBias:
        """The bias at every relative position -D .. D, D the largest |i - j| among these positions."""
        reach = 0
        if q_pos.numel() and k_pos.numel():
            reach = int(max(q_pos.max() - k_pos.min(), k_pos.max() - q_pos.min()).clamp(min=0))
        if reach not in self._tables:
            relative = torch.arange(-reach, reach + 1, device=q_pos.device)  # (2D+1,)
            values = sandwich_bias(relative, self.dim, self.n_heads).to(self.dtype)  # (H, 2D+1)
            self._tables[reach] = DistanceTableBias(values, reach)
        return self._tables[reach]

    def materialize(self, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        return self.table(q_pos, k_pos).materialize(q_pos, k_pos)  # (H, Tq, S)

    def score_mod(self, q_pos: Tensor, k_pos: Tensor) -> ScoreMod:
        return self.table(q_pos, k_pos).score_mod(q_pos, k_pos)


class Sandwich(PositionalEncoding):
    """A fixed bias per head from the dot product of sinusoidal embeddings of the two positions."""

    name = "sandwich"
    family = Family.BIAS
    shift_invariant = True
    description = ("fixed bias (sum_k cos((i-j)/10000^(2k/d')) - d'/2) / (8h/H), d' = head dim "
                   "(Sandwich, Chi et al. 2023)")

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True,
                 dim: int | None = None) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal)
        self.dim = self.head_dim if dim is None else dim
        if self.dim < 2 or self.dim % 2:
            raise InputError(f"sandwich needs an even dim >= 2, got {self.dim}")

    def attention_bias(self, dtype: torch.dtype) -> SandwichBias:
        return SandwichBias(self.dim, self.n_heads, dtype)
