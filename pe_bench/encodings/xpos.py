"""xPos, extrapolatable position embedding (Sun et al. 2022): RoPE plus a per-pair decay.

Pair k of a head (k = 0 .. d/2-1) gets the scale zeta_k = (2k + 0.4 d) / (1.4 d) < 1. A query
at position i is rotated as RoPE does and multiplied by zeta_k^(i/512), a key at position j
by zeta_k^(-j/512), so their dot product is RoPE's times zeta_k^((i - j)/512): attention to
far keys decays, which the paper credits for better extrapolation. The paper (and
torchscale's ``xpos_relative_position.py``) uses it with causal attention only: a key after
the query would be scaled up without bound. ``causal_only`` says so.

Why the cache keeps raw keys: zeta^(-j/512) for a key far from position 0 overflows float32
near j = 36,000 (zeta_0 = 2/7). pe-bench therefore measures positions from a reference r,
the newest query of the forward pass: queries get zeta^((i - r)/512), keys zeta^((r - j)/512).
The product is unchanged (r cancels), every factor of a causal key is at most 1, and the
result depends only on differences, so it is exactly shift-invariant. r moves with every
decoding step, so a KV cache cannot hold keys already scaled: it holds raw keys and every
step transforms all of them again (``caches_transformed_keys = False``) — the same per-step
cost as RoPE under StreamingLLM's slot positions. A query more than ~36,000 positions before
r (one forward pass of more than ~36,000 tokens) still overflows in float32 and bfloat16
(~4,500 in float16).

Rotation pairing, frequencies and float64 angles are RoPE's (rope.py).
"""

from __future__ import annotations

import torch
from torch import Tensor

from pe_bench.encodings.rope import RoPE, Rotation, rotate_halves

#: positions are divided by this before the decay is applied (the paper's gamma)
SCALE_BASE = 512.0


def xpos_zeta(head_dim: int) -> Tensor:
    """zeta_k = (2k + 0.4 d) / (1.4 d) for k = 0 .. d/2-1, float64 of shape (d/2,)."""
    k = torch.arange(head_dim // 2, dtype=torch.float64)
    return (2 * k + 0.4 * head_dim) / (1.4 * head_dim)


def xpos_scales(positions: Tensor, reference: int, head_dim: int,
                scale_base: float = SCALE_BASE) -> tuple[Tensor, Tensor]:
    """(query scale, key scale), each float64 (T, d/2): zeta^((p - r)/base) and zeta^((r - p)/base)."""
    exponent = (positions.to(torch.float64) - reference)[:, None] / scale_base  # (T, 1)
    log_zeta = xpos_zeta(head_dim).log().to(positions.device)[None, :]  # (1, d/2)
    return torch.exp(exponent * log_zeta), torch.exp(-exponent * log_zeta)


class XPosTransform(Rotation):
    """RoPE's rotation with the query's and the key's decay folded into their cos/sin rows."""

    def __init__(self, cos: Tensor, sin: Tensor, query_scale: Tensor, key_scale: Tensor) -> None:
        super().__init__(cos * query_scale, sin * query_scale)
        self.key_cos, self.key_sin = cos * key_scale, sin * key_scale

    def keys(self, x: Tensor) -> Tensor:
        return rotate_halves(x, self.key_cos, self.key_sin)


class XPos(RoPE):
    """RoPE whose queries and keys decay by zeta^(+-position/512), relative to the newest query."""

    name = "xpos"
    description = "RoPE with a per-pair exponential decay on queries and keys (Sun et al. 2022)"
    shift_invariant = True
    caches_transformed_keys = False
    causal_only = True

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True, base: float = 10000.0,
                 scale_base: float = SCALE_BASE) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal, base=base)
        self.scale_base = scale_base

    def qk_transform(self, positions: Tensor, dtype: torch.dtype, reference: int | None = None) -> XPosTransform:
        if reference is None:  # called directly, without a model: centre on the last position
            reference = int(positions.max()) if positions.numel() else 0
        rotation = super().qk_transform(positions, dtype)
        query_scale, key_scale = xpos_scales(positions, reference, self.head_dim, self.scale_base)
        return XPosTransform(rotation.cos, rotation.sin, query_scale.to(dtype), key_scale.to(dtype))
