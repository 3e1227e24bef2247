"""KERPLE, kernelized relative positional embedding (Chi et al. 2022).

The logit of query i and key j gets, in head h, a bias from a conditionally positive
definite kernel of the distance |i - j|:

- ``kerple-log``, logarithmic:  bias_h(i, j) = -r1_h * log(1 + r2_h * |i - j|)
- ``kerple-power``, power:      bias_h(i, j) = -r1_h * |i - j|^r2_h,  0 < r2 <= 2

r1 and r2 are learned per head, shared by all layers (as T5's table is), initialized as in
the paper's code (chijames/KERPLE): r1 ~ U(0, 2), r2 ~ U(0, 1), so the heads start with
different penalties, as ALiBi's slopes differ. The forward pass clamps both at 0.01 (and the
power's r2 at 2): a parameter pushed below counts as 0.01 and gets no gradient there (the
paper's code clamps the stored value in place instead). The bias depends on i - j alone, so
KERPLE is shift-invariant; it is not multiplied by 1/sqrt(head_dim). ALiBi is the power kernel
with r2 = 1 and fixed slopes.

The bias is computed from the distance in both forms: ``materialize`` builds the dense
(H, Tq, S) tensor (eager, SDPA), ``score_mod`` one entry at a time inside flex attention.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from pe_bench.encodings.base import AttentionBias, Family, PositionalEncoding, ScoreMod

MIN_VALUE = 0.01  # r1 and r2 are clamped at this in the forward, as in the paper
MAX_POWER = 2.0  # the power kernel is conditionally positive definite for r2 <= 2 only


def _per_head(r: Tensor, distance: Tensor) -> Tensor:
    """``r`` (H,) as (H, 1, ..) against ``distance``; a 0-d ``r`` (one head, in a score_mod) stays 0-d."""
    return r.reshape(r.shape + (1,) * distance.dim()) if r.dim() else r


def kerple_log_bias(distance: Tensor, r1: Tensor, r2: Tensor) -> Tensor:
    """-r1 * log(1 + r2 * distance).

    Args:
        distance: |i - j|, any shape, >= 0 (integers or floats).
        r1, r2: (H,) per head, or 0-d for one head; their dtype is the result's.

    Returns:
        (H, *distance.shape), or distance's shape for 0-d r1 and r2.
    """
    distance = distance.to(r1.dtype)
    return -_per_head(r1, distance) * torch.log1p(_per_head(r2, distance) * distance)


def kerple_power_bias(distance: Tensor, r1: Tensor, r2: Tensor) -> Tensor:
    """-r1 * distance^r2; arguments and result as ``kerple_log_bias``. Distance 0 gives 0 (r2 > 0)."""
    distance = distance.to(r1.dtype)
    return -_per_head(r1, distance) * torch.pow(distance, _per_head(r2, distance))


class KernelBias(AttentionBias):
    """bias[h, i, j] = kernel(|q_pos[i] - k_pos[j]|, r1[h], r2[h])."""

    def __init__(self, kernel: Callable[[Tensor, Tensor, Tensor], Tensor], r1: Tensor, r2: Tensor) -> None:
        self.kernel = kernel
        self.r1, self.r2 = r1, r2  # (H,) each, clamped

    def materialize(self, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        distance = (q_pos[:, None] - k_pos[None, :]).abs()  # (Tq, S)
        return self.kernel(distance, self.r1, self.r2)  # (H, Tq, S)

    def score_mod(self, q_pos: Tensor, k_pos: Tensor) -> ScoreMod:
        kernel, r1, r2 = self.kernel, self.r1, self.r2

        def add_bias(score: Tensor, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            distance = torch.abs(q_pos[q_idx] - k_pos[kv_idx])
            return score + kernel(distance, r1[h], r2[h])

        return add_bias


class KerpleLog(PositionalEncoding):
    """A learned logarithmic penalty on distance, one (r1, r2) pair per head."""

    name = "kerple-log"
    family = Family.BIAS
    shift_invariant = True
    description = "learned per-head logarithmic penalty -r1*log(1 + r2*|i-j|) (KERPLE, Chi et al. 2022)"
    kernel = staticmethod(kerple_log_bias)  # distance, r1, r2 -> bias
    max_power: float | None = None  # r2's upper clamp, if any

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal)
        # drawn from torch's RNG, so a seeded model is reproducible
        self.r1 = nn.Parameter(torch.rand(n_heads) * 2)  # U(0, 2)
        self.r2 = nn.Parameter(torch.rand(n_heads))  # U(0, 1)

    def attention_bias(self, dtype: torch.dtype) -> KernelBias:
        r1 = self.r1.clamp(min=MIN_VALUE).to(dtype)
        r2 = self.r2.clamp(min=MIN_VALUE, max=self.max_power).to(dtype)
        return KernelBias(self.kernel, r1, r2)


class KerplePower(KerpleLog):
    """A learned power penalty on distance, one (r1, r2) pair per head, r2 <= 2."""

    name = "kerple-power"
    description = "learned per-head power penalty -r1*|i-j|^r2, 0 < r2 <= 2 (KERPLE, Chi et al. 2022)"
    kernel = staticmethod(kerple_power_bias)
    max_power = MAX_POWER
