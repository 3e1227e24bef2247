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
- ``rope-llama3``, the scaling of Llama 3.1 (Dubey et al. 2024, "The Llama 3 herd of models";
  Hugging Face's ``"llama3"`` rope type): with low_wl = L / low_freq_factor and high_wl =
  L / high_freq_factor, a frequency whose wavelength lambda_k is longer than low_wl is divided
  by s, one shorter than high_wl is kept, and between
  the two theta' = (1 - s') theta / s + s' theta with s' = (L / lambda_k - low_freq_factor) /
  (high_freq_factor - low_freq_factor): NTK-by-parts with the ramp in wavelengths. HF's
  defaults are factor 8, low_freq_factor 1, high_freq_factor 4; here the factor is ``scale``
  (so s = 1 is plain RoPE) and the other two are options.
- ``rope-longrope``, LongRoPE (Ding et al. 2024; HF's ``"longrope"``): theta'_k = theta_k / f_k
  with one factor f_k per pair, found by LongRoPE's search for a given model, plus the
  attention factor sqrt(1 + ln s / ln L) on queries and keys (so logits grow by its square, as
  with YaRN). ``factors`` gives them (HF's long factors; HF switches to a second, short set at
  lengths up to L, which pe-bench does not); without them pe-bench takes f_k = s^(2k/(d-2)), the
  NTK-aware ratios: no search, but the monotone rise from 1 (highest frequency) to s (lowest)
  that LongRoPE's searched factors keep.

At s = 1 every variant is plain RoPE (longrope: unless ``factors`` are given). The variants
have no parameters, so they can be swapped into a trained RoPE model. They are registered
encodings (``variant_of = "rope"``), so every test that loops over the registry covers them,
built with ``check_options`` (a scale above 1); ``--encodings all`` leaves them out, and the
extrapolation suite applies them to the trained RoPE model instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from pe_bench.encodings.rope import RoPE, Rotation, rope_cos_sin, rope_inv_freq
from pe_bench.errors import InputError

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


def llama3_inv_freq(inv_freq: Tensor, train_len: int, factor: float = 8.0, low_freq_factor: float = 1.0,
                    high_freq_factor: float = 4.0) -> Tensor:
    """Llama 3's frequencies: theta / factor past low_wl = L / low_freq_factor, theta below
    high_wl = L / high_freq_factor, and a ramp in L / lambda between (both ends included in it,
    where it meets the other two). Defaults are Hugging Face's."""
    if not 0 < low_freq_factor < high_freq_factor:
        raise InputError(f"llama3 needs 0 < low_freq_factor < high_freq_factor, got {low_freq_factor} and "
                         f"{high_freq_factor}")
    wavelength = 2 * math.pi / inv_freq  # lambda_k (inf for a frequency of 0: interpolated, stays 0)
    low_wavelength, high_wavelength = train_len / low_freq_factor, train_len / high_freq_factor
    ramp = (train_len / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor)  # s'
    between = (1 - ramp) * inv_freq / factor + ramp * inv_freq
    return torch.where(wavelength > low_wavelength, inv_freq / factor,
                       torch.where(wavelength < high_wavelength, inv_freq, between))


def longrope_inv_freq(inv_freq: Tensor, factors: Sequence[float] | Tensor) -> Tensor:
    """LongRoPE: theta'_k = theta_k / factors_k; one factor > 0 per pair, or an InputError."""
    factors = torch.as_tensor(factors, dtype=torch.float64)
    if factors.shape != inv_freq.shape:
        raise InputError(f"longrope needs one factor per frequency pair ({inv_freq.numel()}), "
                         f"got {factors.numel() if factors.dim() == 1 else tuple(factors.shape)}")
    if not bool((factors > 0).all()):
        raise InputError(f"longrope's factors must all be > 0, got {factors.tolist()}")
    return inv_freq / factors.to(inv_freq.device)


def longrope_attention_scale(scale: float, train_len: int) -> float:
    """LongRoPE's factor on queries and keys, sqrt(1 + ln s / ln L) (1 at s <= 1)."""
    if scale <= 1:
        return 1.0
    if train_len < 2:
        raise InputError(f"longrope's attention factor needs a training length >= 2, got {train_len}")
    return math.sqrt(1 + math.log(scale) / math.log(train_len))


def ntk_ratios(n_pairs: int, scale: float) -> Tensor:
    """theta_k / theta'_k under the NTK-aware base, s^(2k/(d-2)) = s^(k/(n-1)): 1 up to s; float64 (n,)."""
    k = torch.arange(n_pairs, dtype=torch.float64)
    return scale ** (k / max(n_pairs - 1, 1))


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


class RoPELlama3(ScaledRoPE):
    name = "rope-llama3"
    description = ("RoPE with Llama 3's scaling: long wavelengths / s, short kept, a ramp between "
                   "(HF 'llama3'; Dubey et al. 2024)")

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True, base: float = 10000.0,
                 train_len: int | None = None, scale: float = 1.0, low_freq_factor: float = 1.0,
                 high_freq_factor: float = 4.0) -> None:
        self.low_freq_factor, self.high_freq_factor = low_freq_factor, high_freq_factor  # frequencies() reads them
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal, base=base,
                         train_len=train_len, scale=scale)

    def frequencies(self, scale: float) -> tuple[Tensor, float]:
        inv_freq = llama3_inv_freq(rope_inv_freq(self.head_dim, self.base), self.train_len, scale,
                                   self.low_freq_factor, self.high_freq_factor)
        return inv_freq, 1.0


class RoPELongRoPE(ScaledRoPE):
    name = "rope-longrope"
    description = ("RoPE with LongRoPE's per-pair factors theta_k / f_k and attention factor "
                   "sqrt(1 + ln s / ln L) (Ding et al. 2024)")

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True, base: float = 10000.0,
                 train_len: int | None = None, scale: float = 1.0,
                 factors: Sequence[float] | None = None) -> None:
        self.factors = None if factors is None else tuple(float(f) for f in factors)  # frequencies() reads them
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal, base=base,
                         train_len=train_len, scale=scale)

    def frequencies(self, scale: float) -> tuple[Tensor, float]:
        inv_freq = rope_inv_freq(self.head_dim, self.base)
        factors = ntk_ratios(inv_freq.numel(), scale) if self.factors is None else self.factors
        return longrope_inv_freq(inv_freq, factors), longrope_attention_scale(scale, self.train_len)


#: name -> class; every entry takes train_len and scale (dynamic ignores scale)
ROPE_SCALING: dict[str, type[ScaledRoPE]] = {
    cls.name: cls for cls in (RoPEPI, RoPENTK, RoPEYaRN, RoPEDynamic, RoPELlama3, RoPELongRoPE)}


def scaled_rope(name: str, rope: RoPE, train_len: int, scale: float) -> ScaledRoPE:
    """The variant ``name`` with the same shape and base as ``rope``, for ``scale`` = L'/L."""
    return ROPE_SCALING[name](d_model=rope.d_model, n_heads=rope.n_heads, max_len=train_len, causal=rope.causal,
                              base=rope.base, train_len=train_len, scale=scale)
