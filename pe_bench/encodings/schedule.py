"""Layer schedules: a different encoding in each layer, cycled over the depth.

Llama 4's iRoPE interleaves three RoPE layers with one NoPE layer; Cohere's Command A and Yang
et al. 2025 ("Rope to Nope and back again: a new hybrid attention strategy") give three layers
sliding-window attention with RoPE and the fourth global attention with no positional encoding.
A schedule names one encoding per layer (its ``layers``, repeated until the model's depth is
filled: 4 entries in an 8-layer model run twice) and, per entry, how many of the latest keys that
layer sees (``windows``: None is global attention). Layers with the same entry share one
instance, as every layer of a plain model shares its encoding.

Built in: ``irope`` (rope, rope, rope, nope) and ``swa-rope-nope`` (the same with a window on the
RoPE layers; ``window`` an option, by default a quarter of the model's length: the training
length in the training suites). Any other schedule is written on the command line as a
bracketed list, ``[rope,rope,rope,nope]``, an entry's window as its option,
``[rope(window=64),nope]`` (compose.py).

A schedule claims what all of its parts claim (shift-invariant only if every part is); an
encoding that adds position to the input embedding has no layer to go in, so it cannot be part.
A windowed layer's KV cache keeps only its window (layer_caches.py).
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from pe_bench.encodings.base import Family, PositionalEncoding
from pe_bench.errors import InputError

#: a ``windows`` entry that takes the schedule's ``window`` option
OPTION = -1


def check_parts(name: str, parts: tuple[type[PositionalEncoding], ...]) -> None:
    """Every part can sit in a layer: an embedding encoding or another schedule cannot."""
    for part in parts:
        if part.family in (Family.EMBEDDING, Family.SCHEDULE):
            where = "adds position to the input embedding" if part.family is Family.EMBEDDING else "is a schedule"
            raise InputError(f"schedule {name}: {part.name} {where}, which has no place in one layer; a schedule's "
                             "entries add position inside attention (rotary, bias, contextual or none)")


def check_window(window: object, max_len: int, name: str) -> int:
    """``window`` if it is an int in [1, max_len): a window of the whole length windows nothing."""
    if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window < max_len:
        raise InputError(f"{name}'s window is how many of the latest keys a windowed layer sees: an integer from 1 "
                         f"to the model's length - 1 ({max_len - 1}); got {window!r}")
    return window


class Schedule(PositionalEncoding):
    """An encoding per layer (``layers``, cycled), each seeing the latest ``windows`` keys (None: all)."""

    family = Family.SCHEDULE
    shift_invariant = True
    layers: ClassVar[tuple[str, ...]] = ()
    windows: ClassVar[tuple[int | None, ...]] = ()  # per entry: a window, None (global), or OPTION

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True,
                 window: int | None = None) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal)
        from pe_bench.encodings import build_encoding  # the registry imports this module

        names = list(dict.fromkeys(self.layers))
        self.parts = nn.ModuleList(build_encoding(n, d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal)
                                   for n in names)
        self.entry_part = [names.index(n) for n in self.layers]
        default = max(1, max_len // 4) if window is None else window
        self.entry_window = [check_window(default if w == OPTION else w, max_len, self.name) if w is not None else None
                             for w in self.windows]
        limits = [p.max_len for p in self.parts if p.max_len is not None]
        self.max_len = min(limits) if limits else None

    @classmethod
    def layers_needed(cls) -> int:
        return len(cls.layers)

    def for_layer(self, index: int) -> PositionalEncoding:
        return self.parts[self.entry_part[index % len(self.layers)]]

    def layer_window(self, index: int) -> int | None:
        return self.entry_window[index % len(self.layers)]

    def extra_repr(self) -> str:
        entries = [n if w is None else f"{n}(window={w})" for n, w in zip(self.layers, self.entry_window)]
        return f"layers=[{', '.join(entries)}] (cycled)"


def claims(parts: tuple[type[PositionalEncoding], ...], windowed: bool) -> dict[str, bool]:
    """What a schedule of these parts claims: what all of them do; windows are causal only."""
    return {"shift_invariant": all(p.shift_invariant for p in parts), "exact_cache": all(p.exact_cache for p in parts),
            "caches_transformed_keys": all(p.caches_transformed_keys for p in parts),
            "causal_only": windowed or any(p.causal_only for p in parts)}


class IRoPE(Schedule):
    name = "irope"
    description = "three RoPE layers, then one NoPE layer, cycled (Llama 4's iRoPE)"
    layers = ("rope", "rope", "rope", "nope")
    windows = (None, None, None, None)


class SWARoPENoPE(Schedule):
    name = "swa-rope-nope"
    description = ("three sliding-window RoPE layers (window: an option, default a quarter of the length), then one "
                   "global NoPE layer, cycled (Command A; Yang et al. 2025)")
    layers = ("rope", "rope", "rope", "nope")
    windows = (OPTION, OPTION, OPTION, None)
    causal_only = True
    check_options: ClassVar[dict[str, object]] = {"window": 4}  # the check's caches hold 8 slots, 2 of them sinks


SCHEDULES: tuple[type[Schedule], ...] = (IRoPE, SWARoPENoPE)
