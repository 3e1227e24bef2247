"""NoPE: no positional information at all; the causal mask alone lets a decoder infer order."""

from __future__ import annotations

from pe_bench.encodings.base import Family, PositionalEncoding


class NoPE(PositionalEncoding):
    """All hooks are no-ops: the baseline every other encoding's cost is measured against."""

    name = "nope"
    family = Family.NONE
    shift_invariant = True
    description = "no positional information; the causal mask alone orders tokens"
