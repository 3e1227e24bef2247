"""p-RoPE (Barbero et al. 2024, "Round and round we go! What makes rotary positional encodings
useful?"): RoPE on a fraction p of the frequency pairs only.

RoPE rotates pair k by p * theta_k, theta_k = base^(-2k/d), k = 0 .. d/2-1 (rope.py). The paper
finds that the lowest frequencies (large k) barely turn over a context and are used as
semantic channels, not positional ones, and that rotating them hurts at long range. p-RoPE
keeps the round(p * d/2) highest frequencies (at least one pair) and sets the others to 0:
those pairs are left unrotated. p = 1 is RoPE exactly; p -> 0 approaches NoPE. Default
p = 0.25; any p in (0, 1] is an option (``encoding_options={"p": 0.5}``), anything else an
InputError.

Not Hugging Face's ``partial_rotary_factor``, which rotates the first fraction of the head's
dimensions with frequencies recomputed over that fraction. Everything else — halves pairing,
float64 angles, keys cached after rotation — is RoPE's, so p-RoPE is shift-invariant.
"""

from __future__ import annotations

from torch import Tensor

from pe_bench.encodings.rope import RoPE, rope_inv_freq
from pe_bench.errors import InputError

DEFAULT_P = 0.25


def p_rope_inv_freq(head_dim: int, p: float, base: float = 10000.0) -> Tensor:
    """RoPE's theta_k with all but the round(p * d/2) highest (at least one) set to 0; float64 (d/2,).

    p outside (0, 1] is an InputError.
    """
    if not (isinstance(p, (int, float)) and 0 < p <= 1):
        raise InputError(f"p-rope's p is the fraction of frequency pairs rotated, in (0, 1]; got {p!r}")
    inv_freq = rope_inv_freq(head_dim, base)
    kept = max(1, round(p * inv_freq.numel()))
    inv_freq[kept:] = 0.0  # the lowest frequencies: angle 0, cos 1, sin 0, an unrotated pair
    return inv_freq


class PRoPE(RoPE):
    """RoPE whose lowest-frequency pairs are left unrotated; ``p`` is the fraction rotated."""

    name = "p-rope"
    description = ("RoPE on the highest fraction p (default 0.25) of frequency pairs, the lowest left "
                   "unrotated (p-RoPE, Barbero et al. 2024)")

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True, base: float = 10000.0,
                 p: float = DEFAULT_P) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal, base=base)
        self.p = p
        self.inv_freq = p_rope_inv_freq(self.head_dim, p, base)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}, rotated_pairs={int((self.inv_freq > 0).sum())}"
