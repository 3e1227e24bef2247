"""The positional encodings and their registry.

``ENCODINGS`` maps each name to its class; the CLI's choices and the tests' loops come from
it, so a new built-in encoding is one new file plus one line here. Variants of another
encoding (RoPE's scaling variants) are registered too: ``base_encodings()`` is what ``all``
means. A user's own encoding — ``path/to/file.py:Class``, ``package.module:Class`` or an
installed entry point (plugins.py) — is loaded where its name is first used and registered
under its own name; ``ORIGINS`` says where every registered encoding came from.
"""

from __future__ import annotations

from pe_bench.encodings.alibi import ALiBi
from pe_bench.encodings.base import AttentionBias, Family, LayerContext, PositionalEncoding, QKTransform
from pe_bench.encodings.cope import CoPE
from pe_bench.encodings.compose import configured, is_composed, schedule, split_top_level
from pe_bench.encodings.fire import FIRE
from pe_bench.encodings.fox import FoX
from pe_bench.encodings.kerple import KerpleLog, KerplePower
from pe_bench.encodings.learned import Learned
from pe_bench.encodings.nope import NoPE
from pe_bench.encodings.p_rope import PRoPE
from pe_bench.encodings.plugins import BUILT_IN, Origin, entry_point_specs, is_spec, load_entry_point, load_spec
from pe_bench.encodings.rope import RoPE
from pe_bench.encodings.rope_scaling import ROPE_SCALING
from pe_bench.encodings.sandwich import Sandwich
from pe_bench.encodings.schedule import SCHEDULES
from pe_bench.encodings.sinusoidal import Sinusoidal
from pe_bench.encodings.t5 import T5Bias
from pe_bench.encodings.xpos import XPos
from pe_bench.errors import InputError

ENCODINGS: dict[str, type[PositionalEncoding]] = {
    cls.name: cls for cls in (Sinusoidal, Learned, T5Bias, RoPE, ALiBi, NoPE, XPos, FIRE,
                              KerpleLog, KerplePower, Sandwich, PRoPE, CoPE, FoX, *SCHEDULES, *ROPE_SCALING.values())
}
ORIGINS: dict[str, Origin] = dict.fromkeys(ENCODINGS, BUILT_IN)


def base_encodings() -> tuple[str, ...]:
    """The built-in encodings that are not a variant of another: what ``all`` means."""
    return tuple(name for name, cls in ENCODINGS.items() if cls.variant_of is None and ORIGINS.get(name) is BUILT_IN)


def register(cls: type[PositionalEncoding], origin: Origin) -> str:
    """Add a user's encoding under its own name; a name another encoding has is an InputError."""
    known = ENCODINGS.get(cls.name)
    if known is cls and ORIGINS.get(cls.name) is BUILT_IN:
        return cls.name  # a built-in named by its module path: still the built-in
    if known is not None and known is not cls:
        other = ORIGINS[cls.name]
        if other is BUILT_IN:
            raise InputError(f"plugin {origin.source} is named '{cls.name}', the name of a built-in encoding; "
                             "change its `name` attribute (the class name does not matter)")
        if other != origin:
            raise InputError(f"plugin {origin.source} is named '{cls.name}', like {other.source}; "
                             "change the `name` attribute of one of them")
    ENCODINGS[cls.name] = cls
    ORIGINS[cls.name] = origin
    return cls.name


def resolve(name: str) -> str:
    """The registry name for ``name``: a registered name, a plugin spec (loaded and registered), or
    an installed entry point. An unknown name raises InputError listing the valid ones."""
    if name in ENCODINGS:
        return name
    if is_composed(name):
        return compose(name)
    if is_spec(name):
        return register(*load_spec(name))
    if name in entry_point_specs():
        return register(*load_entry_point(name))
    raise InputError(f"unknown encoding '{name}'; valid: {', '.join(ENCODINGS)}, "
                     "or path/to/file.py:Class, package.module:Class")


def compose(text: str) -> str:
    """Register ``name(options)`` or ``[entry,...]`` (compose.py) under its text, spaces removed."""
    text = "".join(text.split())
    if text not in ENCODINGS:
        cls = schedule(text, resolve, ENCODINGS) if text.startswith("[") else configured(text, resolve, ENCODINGS)
        ENCODINGS[text] = cls
        ORIGINS[text] = Origin("composed", source=text)
    return text


def load_entry_points() -> list[str]:
    """Register every installed entry-point encoding; returns one line per one that failed to load."""
    problems = []
    for name in entry_point_specs():
        try:
            resolve(name)
        except InputError as e:
            problems.append(str(e))
    return problems


def parse_encodings(text: str, flag: str = "--encodings") -> tuple[str, ...]:
    """'rope,alibi,examples/gaussian.py:Gaussian' -> registry names, each plugin loaded; 'all' is
    ``base_encodings()`` and may stand among other names. Order kept, duplicates dropped."""
    items = [item for item in split_top_level(text, flag) if item]
    if not items:
        raise InputError(f"{flag} is empty; valid: {', '.join(ENCODINGS)}, all, or path/to/file.py:Class")
    names: list[str] = []
    for item in items:
        names += base_encodings() if item == "all" else [resolve(item)]
    return tuple(dict.fromkeys(names))


def encoding_class(name: str) -> type[PositionalEncoding]:
    """The class registered under ``name`` (a plugin spec is loaded first); InputError if unknown."""
    return ENCODINGS[resolve(name)]


def build_encoding(name: str, *, d_model: int, n_heads: int, max_len: int, causal: bool = True,
                   **options: object) -> PositionalEncoding:
    """Instantiate the encoding ``name``; ``options`` go to its constructor (e.g. ``base``)."""
    return encoding_class(name)(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal, **options)


__all__ = ["BUILT_IN", "ENCODINGS", "ORIGINS", "AttentionBias", "Family", "LayerContext", "Origin", "PositionalEncoding",
           "QKTransform",
           "base_encodings", "build_encoding", "encoding_class", "load_entry_points", "parse_encodings", "register",
           "resolve"]
