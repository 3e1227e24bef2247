"""The positional encodings and their registry.

``ENCODINGS`` maps each name to its class; the CLI's choices and the tests' loops come from
it, so a new encoding is one new file plus one line here. Variants of another encoding
(RoPE's scaling variants) are registered too: ``base_encodings()`` is what ``all`` means.
"""

from __future__ import annotations

from pe_bench.encodings.alibi import ALiBi
from pe_bench.encodings.base import AttentionBias, Family, PositionalEncoding, QKTransform
from pe_bench.encodings.learned import Learned
from pe_bench.encodings.nope import NoPE
from pe_bench.encodings.rope import RoPE
from pe_bench.encodings.rope_scaling import ROPE_SCALING
from pe_bench.encodings.sinusoidal import Sinusoidal
from pe_bench.encodings.t5 import T5Bias
from pe_bench.errors import InputError

ENCODINGS: dict[str, type[PositionalEncoding]] = {
    cls.name: cls for cls in (Sinusoidal, Learned, T5Bias, RoPE, ALiBi, NoPE, *ROPE_SCALING.values())
}


def base_encodings() -> tuple[str, ...]:
    """The registered encodings that are not a variant of another: what ``all`` means."""
    return tuple(name for name, cls in ENCODINGS.items() if cls.variant_of is None)


def encoding_class(name: str) -> type[PositionalEncoding]:
    """The class registered under ``name``; an unknown name raises InputError listing them all."""
    try:
        return ENCODINGS[name]
    except KeyError:
        raise InputError(f"unknown encoding '{name}'; valid: {', '.join(ENCODINGS)}") from None


def build_encoding(name: str, *, d_model: int, n_heads: int, max_len: int, causal: bool = True,
                   **options: object) -> PositionalEncoding:
    """Instantiate the encoding ``name``; ``options`` go to its constructor (e.g. ``base``)."""
    return encoding_class(name)(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal, **options)


__all__ = ["ENCODINGS", "AttentionBias", "Family", "PositionalEncoding", "QKTransform", "base_encodings",
           "build_encoding", "encoding_class"]
