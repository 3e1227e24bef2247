"""Learned absolute encoding (GPT-2, BERT): one trained vector per position, added to tokens."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pe_bench.encodings.base import Family, PositionalEncoding
from pe_bench.errors import PositionOutOfRange


class Learned(PositionalEncoding):
    """``nn.Embedding(max_len, d_model)`` added to the token embeddings.

    Positions outside 0 .. max_len-1 do not exist: asking for one raises
    ``PositionOutOfRange`` naming the limit (never an IndexError, never a silent clamp).
    """

    name = "learned"
    family = Family.EMBEDDING
    shift_invariant = False
    description = "trained vector per position added to token embeddings (GPT-2, BERT)"

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal)
        self.max_len = max_len
        self.table = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.table.weight, std=0.02)

    def embedding(self, positions: Tensor, dtype: torch.dtype) -> Tensor:
        if positions.numel():
            lo, hi = int(positions.min()), int(positions.max())
            if lo < 0 or hi >= self.max_len:
                bad = hi if hi >= self.max_len else lo
                raise PositionOutOfRange(
                    f"learned absolute encoding has a table of {self.max_len} positions "
                    f"(0..{self.max_len - 1}); position {bad} does not exist"
                )
        return self.table(positions).to(dtype)  # (T, d_model)
