"""RoPE, rotary position embedding (Su et al., RoFormer 2021).

Pair k of a query or key at position p is rotated by the angle p * theta_k, with
theta_k = base^(-2k/d), k = 0 .. d/2-1. Then <R(i)q, R(j)k> depends only on i - j.

Pairing: pe-bench pairs dimension k with dimension k + d/2 (the two halves of the head),
as GPT-NeoX and Llama do, rather than the paper's adjacent (2k, 2k+1). The two differ by a
fixed permutation of head dimensions; the halves layout needs no strided copies.

Keys are rotated before they are cached, so a KV cache stores rotated keys and a decoding
step rotates only the new token (unless a cache assigns positions by slot: see cache.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from pe_bench.encodings.base import Family, PositionalEncoding, QKTransform
from pe_bench.encodings.row_cache import PositionRowCache


def rope_inv_freq(head_dim: int, base: float = 10000.0) -> Tensor:
    """theta_k = base^(-2k/head_dim) for k = 0 .. head_dim/2-1, float64, shape (head_dim/2,).

    The sinusoidal table uses the same frequencies over d_model.
    """
    if head_dim % 2:
        raise ValueError(f"need an even dimension, got {head_dim}")
    return base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)


def rope_cos_sin(positions: Tensor, inv_freq: Tensor, scale: float = 1.0) -> tuple[Tensor, Tensor]:
    """cos and sin of the angles p * theta_k, computed in float64, each multiplied by ``scale``.

    Returns:
        (cos, sin), each float64 of shape (T, head_dim/2).
    """
    angles = positions.to(torch.float64)[:, None] * inv_freq.to(positions.device)[None, :]  # (T, d/2)
    return torch.cos(angles) * scale, torch.sin(angles) * scale


def rotate_halves(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate pairs (x[k], x[k + d/2]) of ``x`` (..., T, d) by angles given as cos/sin (T, d/2)."""
    x1, x2 = x.chunk(2, dim=-1)  # (..., T, d/2) each
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def apply_rope(x: Tensor, positions: Tensor, base: float = 10000.0) -> Tensor:
    """Rotate ``x`` (..., seq, head_dim) at ``positions`` (seq,), halves pairing.

    Dimension k is paired with dimension k + head_dim/2 (GPT-NeoX/Llama layout). Angles
    are computed in float64 and cast to ``x.dtype``.
    """
    if positions.shape != (x.shape[-2],):
        raise ValueError(f"positions must have shape ({x.shape[-2]},), got {tuple(positions.shape)}")
    cos, sin = rope_cos_sin(positions, rope_inv_freq(x.shape[-1], base))
    return rotate_halves(x, cos.to(x.dtype), sin.to(x.dtype))


@dataclass
class Rotation(QKTransform):
    """cos/sin rows for a set of positions, computed once per forward and used by every layer.

    Queries and keys are rotated alike.
    """

    cos: Tensor  # (T, head_dim/2)
    sin: Tensor  # (T, head_dim/2)

    def queries(self, x: Tensor) -> Tensor:
        """Rotate ``x`` of shape (B, H, T, head_dim)."""
        return rotate_halves(x, self.cos, self.sin)

    def queries_and_keys(self, qk: Tensor) -> tuple[Tensor, Tensor]:
        """Both rotated in one pass over (2, B, H, T, head_dim): half the kernels of two passes.

        A subclass that transforms queries or keys its own way (xPos) gets each on its own."""
        if type(self).queries is not Rotation.queries or type(self).keys is not QKTransform.keys:
            return super().queries_and_keys(qk)
        q, k = rotate_halves(qk, self.cos, self.sin).unbind(0)
        return q, k


class RoPE(PositionalEncoding):
    """Rotates queries and keys in every attention layer; cos/sin rows cached per position.

    Subclasses that rescale RoPE for longer contexts (see rope_scaling.py) change
    ``inv_freq`` and ``attention_scale``; everything else stays the same.
    """

    name = "rope"
    family = Family.ROTARY
    shift_invariant = True
    description = "rotates queries and keys by position-dependent angles (Su et al. 2021)"

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True,
                 base: float = 10000.0) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal)
        self.base = base
        # float64 on the CPU and not a buffer, so model.to(bfloat16) cannot round it
        self.inv_freq = rope_inv_freq(self.head_dim, base)
        # YaRN multiplies queries and keys by a temperature factor; 1.0 for plain RoPE
        self.attention_scale = 1.0
        self._table = PositionRowCache(self._rows)

    def _rows(self, positions: Tensor) -> Tensor:
        cos, sin = rope_cos_sin(positions, self.inv_freq, self.attention_scale)
        return torch.cat((cos, sin), dim=-1)  # (T, head_dim)

    def qk_transform(self, positions: Tensor, dtype: torch.dtype, reference: int | None = None) -> Rotation:
        cos, sin = self._table.lookup(positions, dtype).chunk(2, dim=-1)  # (T, d/2) each
        return Rotation(cos, sin)


def rope_relative_upper_bound(distances: Tensor, head_dim: int = 64, base: float = 10000.0) -> Tensor:
    """RoFormer's bound on |q·k| after rotation, up to the factor max|h_i|: mean_j |sum_{k<j} e^{i d theta_k}|.

    It decays (with oscillations) as the distance d grows: the long-term decay property.
    ``distances`` (D,) gives d; returns float64 of shape (D,).
    """
    angles = distances.double()[:, None] * rope_inv_freq(head_dim, base)[None, :]  # (D, head_dim/2)
    partial_sums = torch.polar(torch.ones_like(angles), angles).cumsum(dim=-1)  # S_j for j = 1 .. d/2
    return partial_sums.abs().mean(dim=-1)
