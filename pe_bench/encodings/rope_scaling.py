"""RoPE scaling: run a RoPE model trained at length L at a longer length L' without retraining.

With s = L'/L:

- ``rope-pi``, position interpolation (Chen et al. 2023): use p * L/L' in place of p, i.e.
  divide every frequency by s.
- ``rope-ntk``, NTK-aware: keep p, raise the base to base * s^(d/(d-2)).
- ``rope-yarn``, YaRN (Peng et al. 2023): NTK-by-parts — with wavelength lambda_k = 2 pi /
  theta_k and r = L / lambda_k, frequencies that turn less than alpha = 1 times over L are
  interpolated (theta_k / s), those that turn more than beta = 32 times are kept, a linear
  ramp in between — plus a temperature: queries and keys are multiplied by 0.1 ln s + 1.
- ``rope-dynamic``, dynamic NTK: the NTK-aware base with s = max(1, current length / L)
  recomputed at every forward pass from the largest position it sees. Keys cached by an
  earlier step were rotated with an older s: that is the pitfall the extrapolation suite
  measures.

At s = 1 every variant is plain RoPE. The variants have no parameters, so they can be
swapped into a trained RoPE model. They are registered encodings (``variant_of = "rope"``),
so every test that loops over the registry covers them, built with ``check_options`` (a
scale above 1); ``--encodings all`` leaves them out, and the extrapolation suite applies them
to the trained RoPE model instead.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pe_bench.encodings.rope import RoPE, Rotation, rope_cos_sin, rope_inv_freq

YARN_ALPHA, YARN_BETA = 1.0, 32.0


def pi_inv_freq(inv_freq: Tensor, scale: float) -> Tensor:
    """Position interpolation: p * theta / s, expressed as frequencies theta / s."""
    return inv_freq / scale


def ntk_base(base: float, head_dim: int, scale: float) -> float:
    """NTK-aware base: base * s^(d / (d - 2))."""
    return base * scale ** (head_dim / (head_dim - 2))


def yarn_inv_freq(inv_freq: Tensor, train_len: int, scale: float,
                  alpha: float = YARN_ALPHA, beta: float = YARN_BETA) -> Tensor:
    """NTK-by-parts: theta'_k = (1 - gamma) theta_k / s + gamma theta_k, gamma a ramp in r = L / lambda_k."""
    turns = train_len * inv_freq / (2 * math.pi)  # r = L / lambda_k
    gamma = ((turns - alpha) / (beta - alpha)).clamp(0.0, 1.0)
    return (1 - gamma) * inv_freq / scale + gamma * inv_freq


def yarn_attention_scale(scale: float) -> float:
    """YaRN's factor on queries and keys, sqrt(1/t) = 0.1 ln s + 1 (1 at s <= 1)."""
    return 0.1 * math.log(scale) + 1.0 if scale > 1 else 1.0


class ScaledRoPE(RoPE):
    """RoPE with frequencies rescaled for ``scale`` = L'/L; ``train_len`` = L (default: max_len)."""

    name = "rope-scaled"
    description = "RoPE with rescaled frequencies"
    variant_of = "rope"
    check_options = {"train_len": 8, "scale": 4.0}

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True, base: float = 10000.0,
                 train_len: int | None = None, scale: float = 1.0) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal, base=base)
        train_len = max_len if train_len is None else train_len
        if scale <= 0 or train_len < 1:
            raise ValueError(f"scale must be > 0 and train_len >= 1, got {scale} and {train_len}")
        self.train_len = train_len
        self.scale = scale
        self.inv_freq, self.attention_scale = self.frequencies(scale)

    def frequencies(self, scale: float) -> tuple[Tensor, float]:
        """(inv_freq, attention_scale) for this scale factor; plain RoPE's at scale 1."""
        raise NotImplementedError


class RoPEPI(ScaledRoPE):
    name = "rope-pi"
    description = "RoPE with position interpolation (p * L/L')"

    def frequencies(self, scale: float) -> tuple[Tensor, float]:
        return pi_inv_freq(rope_inv_freq(self.head_dim, self.base), scale), 1.0


class RoPENTK(ScaledRoPE):
    name = "rope-ntk"
    description = "RoPE with an NTK-aware base (base * s^(d/(d-2)))"

    def frequencies(self, scale: float) -> tuple[Tensor, float]:
        return rope_inv_freq(self.head_dim, ntk_base(self.base, self.head_dim, scale)), 1.0


class RoPEYaRN(ScaledRoPE):
    name = "rope-yarn"
    description = "RoPE with YaRN (NTK-by-parts frequencies and a temperature)"

    def frequencies(self, scale: float) -> tuple[Tensor, float]:
        inv_freq = yarn_inv_freq(rope_inv_freq(self.head_dim, self.base), self.train_len, scale)
        return inv_freq, yarn_attention_scale(scale)


class RoPEDynamic(RoPENTK):
    """Dynamic NTK: the NTK base with the scale taken from the largest position of each forward
    pass (so ``scale`` is ignored); nothing is cached, since the rows change with the length."""

    name = "rope-dynamic"
    description = "RoPE with an NTK-aware base recomputed from the current length"
    # the scale follows the largest position: the same tokens further on rotate differently,
    # and keys cached under an earlier, smaller scale disagree with a full forward
    shift_invariant = False
    exact_cache = False

    def qk_transform(self, positions: Tensor, dtype: torch.dtype, reference: int | None = None) -> Rotation:
        length = int(positions.max()) + 1 if positions.numel() else 1
        inv_freq, _ = self.frequencies(max(1.0, length / self.train_len))
        cos, sin = rope_cos_sin(positions, inv_freq)
        return Rotation(cos.to(dtype), sin.to(dtype))


#: name -> class; every entry takes train_len and scale (dynamic ignores scale)
ROPE_SCALING: dict[str, type[ScaledRoPE]] = {cls.name: cls for cls in (RoPEPI, RoPENTK, RoPEYaRN, RoPEDynamic)}


def scaled_rope(name: str, rope: RoPE, train_len: int, scale: float) -> ScaledRoPE:
    """The variant ``name`` with the same shape and base as ``rope``, for ``scale`` = L'/L."""
    return ROPE_SCALING[name](d_model=rope.d_model, n_heads=rope.n_heads, max_len=train_len, causal=rope.causal,
                              base=rope.base, train_len=train_len, scale=scale)
