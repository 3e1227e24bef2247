"""KERPLE, logarithmic variant (Chi et al. 2022): an example of an encoding defined outside pe-bench.

The logit of query i and key j gets, in head h,

    bias_h(i, j) = -r1_h * log(1 + r2_h * |i - j|),

with r1 and r2 learned per head and kept positive by clamping them at 0.01, as the paper
does. Like ALiBi it penalizes distance, but logarithmically, and learns how strongly.
It depends on i - j alone, so it is shift-invariant.

Nothing here is built in: the file imports only ``pe_bench.encodings.base`` and torch.
Point pe-bench at the class by file and name:

    pe-bench check examples/kerple.py:Kerple
    pe-bench compare --encodings rope,alibi,examples/kerple.py:Kerple
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pe_bench.encodings.base import AttentionBias, Family, PositionalEncoding, ScoreMod

MIN_VALUE = 0.01  # r1 and r2 are clamped at this, as in the paper


class LogDistanceBias(AttentionBias):
    """bias[h, i, j] = -r1[h] * log(1 + r2[h] * |q_pos[i] - k_pos[j]|)."""

    def __init__(self, r1: Tensor, r2: Tensor) -> None:
        self.r1, self.r2 = r1, r2  # (H,) each

    def materialize(self, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        """The dense (H, Tq, S) bias, for the eager and SDPA backends."""
        distance = (q_pos[:, None] - k_pos[None, :]).abs().to(self.r1.dtype)  # (Tq, S)
        return -self.r1[:, None, None] * torch.log1p(self.r2[:, None, None] * distance)  # (H, Tq, S)

    def score_mod(self, q_pos: Tensor, k_pos: Tensor) -> ScoreMod:
        """The same bias one logit at a time, inside flex_attention (h: head, q_idx/kv_idx: slots)."""
        r1, r2 = self.r1, self.r2

        def add_bias(score: Tensor, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            distance = torch.abs(q_pos[q_idx] - k_pos[kv_idx])
            return score - r1[h] * torch.log1p(r2[h] * distance)

        return add_bias


class Kerple(PositionalEncoding):
    """A learned logarithmic penalty on distance, one (r1, r2) pair per head."""

    name = "kerple"
    family = Family.BIAS
    shift_invariant = True
    description = "learned per-head logarithmic penalty on distance, -r1*log(1 + r2*|i-j|) (KERPLE, Chi et al. 2022)"

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal)
        # Initial values as in the paper's code: r1 uniform in (0, 2), r2 uniform in (0, 1), so the
        # heads start with different penalties (as ALiBi's slopes differ). Drawn from torch's RNG,
        # so a seeded model is reproducible.
        self.r1 = nn.Parameter(torch.rand(n_heads) * 2)
        self.r2 = nn.Parameter(torch.rand(n_heads))

    def attention_bias(self, dtype: torch.dtype) -> LogDistanceBias:
        # The values used are clamped: a parameter pushed below 0.01 counts as 0.01. (The clamp
        # passes no gradient there; the paper's code clamps the stored value in place instead.)
        r1 = self.r1.clamp(min=MIN_VALUE).to(dtype)
        r2 = self.r2.clamp(min=MIN_VALUE).to(dtype)
        return LogDistanceBias(r1, r2)
