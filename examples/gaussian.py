"""A Gaussian distance bias: an example of an encoding defined outside pe-bench.

The logit of query i and key j gets, in head h,

    bias_h(i, j) = -r1_h * (1 - exp(-r2_h * |i - j|^2)),

with r1 and r2 learned per head and kept positive by clamping them at 0.01. A Gaussian
kernel minus a constant is conditionally positive definite, the kind of kernel KERPLE (Chi
et al. 2022; built in as kerple-log and kerple-power) builds its biases from: nearby keys are
penalized smoothly, every far key by the same r1, so the bias saturates where ALiBi's and
KERPLE's keep growing. It depends on i - j alone, so it is shift-invariant.

Nothing here is built in: the file imports only ``pe_bench.encodings.base`` and torch.
Point pe-bench at the class by file and name:

    pe-bench check examples/gaussian.py:Gaussian
    pe-bench compare --encodings rope,alibi,examples/gaussian.py:Gaussian
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pe_bench.encodings.base import AttentionBias, Family, PositionalEncoding, ScoreMod

MIN_VALUE = 0.01  # r1 and r2 are clamped at this, as KERPLE does


class GaussianDistanceBias(AttentionBias):
    """bias[h, i, j] = -r1[h] * (1 - exp(-r2[h] * (q_pos[i] - k_pos[j])^2))."""

    def __init__(self, r1: Tensor, r2: Tensor) -> None:
        self.r1, self.r2 = r1, r2  # (H,) each

    def materialize(self, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        """The dense (H, Tq, S) bias, for the eager and SDPA backends."""
        squared = (q_pos[:, None] - k_pos[None, :]).to(self.r1.dtype) ** 2  # (Tq, S)
        return self.r1[:, None, None] * torch.expm1(-self.r2[:, None, None] * squared)  # (H, Tq, S)

    def score_mod(self, q_pos: Tensor, k_pos: Tensor) -> ScoreMod:
        """The same bias one logit at a time, inside flex_attention (h: head, q_idx/kv_idx: slots)."""
        r1, r2 = self.r1, self.r2

        def add_bias(score: Tensor, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            squared = (q_pos[q_idx] - k_pos[kv_idx]).to(r1.dtype) ** 2
            return score + r1[h] * torch.expm1(-r2[h] * squared)

        return add_bias


class Gaussian(PositionalEncoding):
    """A learned Gaussian penalty on distance that saturates at r1, one (r1, r2) pair per head."""

    name = "gaussian"
    family = Family.BIAS
    shift_invariant = True
    description = "learned per-head Gaussian penalty -r1*(1 - exp(-r2*(i-j)^2)) (an example plugin)"

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal)
        # r1 uniform in (0, 2), r2 uniform in (0, 1), as KERPLE initializes its kernels, so the heads
        # start with different penalties. Drawn from torch's RNG, so a seeded model is reproducible.
        self.r1 = nn.Parameter(torch.rand(n_heads) * 2)
        self.r2 = nn.Parameter(torch.rand(n_heads))

    def attention_bias(self, dtype: torch.dtype) -> GaussianDistanceBias:
        # The values used are clamped: a parameter pushed below 0.01 counts as 0.01. (The clamp
        # passes no gradient there.)
        r1 = self.r1.clamp(min=MIN_VALUE).to(dtype)
        r2 = self.r2.clamp(min=MIN_VALUE).to(dtype)
        return GaussianDistanceBias(r1, r2)
