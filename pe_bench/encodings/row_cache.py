"""A lazily grown cache of rows computed per position, shared by sinusoidal and RoPE.

Both compute a row of sines and cosines per position. Computing them in float64 and
caching the rows makes each forward pass a gather instead of T x dim transcendental
calls, and keeps large positions accurate (float32 angles lose digits past ~2^16).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

#: rows beyond this are computed on the fly instead of cached (2^16 rows x width 256 x 4 bytes = 64 MiB at most)
MAX_CACHED_POSITIONS = 1 << 16


class PositionRowCache:
    """Rows ``fn(positions)`` cached for positions 0 .. n-1, n grown by doubling on demand.

    Args:
        fn: maps a CPU LongTensor of positions (T,) to a float64 tensor (T, width).
        max_cached: positions at or past this are computed directly, never cached.
    """

    def __init__(self, fn: Callable[[Tensor], Tensor], max_cached: int = MAX_CACHED_POSITIONS) -> None:
        self.fn = fn
        self.max_cached = max_cached
        self._rows: Tensor | None = None  # (n, width) in the dtype/device last asked for

    @property
    def nbytes(self) -> int:
        """Bytes of the rows cached so far."""
        return 0 if self._rows is None else self._rows.nbytes

    def lookup(self, positions: Tensor, dtype: torch.dtype) -> Tensor:
        """Rows for ``positions`` (T,), as ``dtype`` on ``positions.device``: shape (T, width)."""
        if positions.numel() == 0:
            return self.fn(positions.cpu()).to(device=positions.device, dtype=dtype)
        lo, hi = int(positions.min()), int(positions.max())
        if lo < 0:
            raise ValueError(f"positions must be >= 0, got {lo}")
        if hi >= self.max_cached:
            return self.fn(positions.cpu()).to(device=positions.device, dtype=dtype)
        rows = self._rows
        if rows is None or rows.shape[0] <= hi or rows.dtype != dtype or rows.device != positions.device:
            n = max(256, 1 << hi.bit_length())  # next power of two above hi
            n = min(n, self.max_cached)
            rows = self.fn(torch.arange(n)).to(device=positions.device, dtype=dtype)
            self._rows = rows
        return rows[positions]
