"""Sinusoidal absolute encoding (Vaswani et al. 2017), added to the token embeddings.

PE[p, 2k] = sin(p / base^(2k/d)), PE[p, 2k+1] = cos(p / base^(2k/d)): the paper's
interleaved layout. No parameters, defined for any position, every value in [-1, 1].
"""

from __future__ import annotations

import torch
from torch import Tensor

from pe_bench.encodings.base import Family, PositionalEncoding
from pe_bench.encodings.rope import rope_inv_freq
from pe_bench.encodings.row_cache import PositionRowCache


def sinusoidal_encoding(positions: Tensor, dim: int, base: float = 10000.0) -> Tensor:
    """The sinusoidal vectors for arbitrary positions, computed in float64.

    Args:
        positions: (T,) integer positions, any values >= 0.
        dim: vector width; must be even.
        base: the wavelength base (10000 in the paper).

    Returns:
        (T, dim) float64: column 2k is sin(p * w_k), column 2k+1 is cos(p * w_k),
        with w_k = base^(-2k/dim).
    """
    if dim % 2:
        raise ValueError(f"sinusoidal dim must be even, got {dim}")
    inv_freq = rope_inv_freq(dim, base)  # the same frequencies RoPE rotates by: base^(-2k/dim), (dim/2,)
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]  # (T, dim/2)
    table = torch.empty(positions.shape[0], dim, dtype=torch.float64, device=positions.device)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table


def sinusoidal_table(num_positions: int, dim: int, base: float = 10000.0) -> Tensor:
    """The paper's table for positions 0 .. num_positions-1, interleaved sin/cos.

    Returns:
        float32 tensor of shape (num_positions, dim).
    """
    return sinusoidal_encoding(torch.arange(num_positions), dim, base).to(torch.float32)


class Sinusoidal(PositionalEncoding):
    """Fixed sin/cos vectors added to the token embeddings; rows cached, grown on demand."""

    name = "sinusoidal"
    family = Family.EMBEDDING
    shift_invariant = False
    description = "fixed sin/cos vectors added to token embeddings (Vaswani et al. 2017)"

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True,
                 base: float = 10000.0) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal)
        self.base = base
        self._table = PositionRowCache(lambda p: sinusoidal_encoding(p, d_model, base))

    def embedding(self, positions: Tensor, dtype: torch.dtype) -> Tensor:
        return self._table.lookup(positions, dtype)  # (T, d_model)
