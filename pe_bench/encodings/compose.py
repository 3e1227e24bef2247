"""Encodings written on the command line: an encoding with options, and a schedule of layers.

- ``name(key=value,...)``: the encoding ``name`` with constructor options, e.g. ``p-rope(p=0.5)``,
  ``swa-rope-nope(window=32)``, ``rope(base=500000)``. Values are read as int, float, true/false,
  or text.
- ``[entry,entry,...]``: one model whose layers use these encodings in turn, cycled over the depth
  (schedule.py), e.g. ``[rope,rope,rope,nope]``; an entry may carry options, and ``window=W``
  among them makes that layer see only the latest W keys: ``[rope(window=64),nope]``.

Both are registered under their text (spaces removed), so rows, checkpoints and figures name
exactly what ran; they are not built-ins, so ``all`` leaves them out. In a list of encodings
(``--encodings``) commas inside brackets and parentheses belong to the entry:
``--encodings "rope,[rope,rope,rope,nope],p-rope(p=0.5)"`` is three models.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from pe_bench.encodings.base import PositionalEncoding
from pe_bench.encodings.schedule import Schedule, check_parts, claims
from pe_bench.errors import InputError

#: a size the constructor can be tried at, to reject a bad option before any work
PROBE = {"d_model": 64, "n_heads": 4, "max_len": 1 << 16, "causal": True}


def is_composed(text: str) -> bool:
    return text.startswith("[") or text.endswith(")")


def split_top_level(text: str, flag: str = "--encodings") -> list[str]:
    """``text`` split at the commas outside brackets and parentheses, each item stripped."""
    items, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if depth < 0:
            raise InputError(f"{flag}: unbalanced brackets in '{text}'")
        if char == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += char
    if depth:
        raise InputError(f"{flag}: unbalanced brackets in '{text}'")
    return [*items, current.strip()]


def parse_value(text: str) -> object:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_entry(text: str) -> tuple[str, dict[str, object]]:
    """'p-rope(p=0.5)' -> ('p-rope', {'p': 0.5}); 'rope' -> ('rope', {})."""
    if not text.endswith(")"):
        return text, {}
    base, _, inner = text[:-1].partition("(")
    options: dict[str, object] = {}
    for item in split_top_level(inner) if inner.strip() else []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise InputError(f"'{text}': an option is written key=value, got '{item}'")
        options[key.strip()] = parse_value(value.strip())
    return base.strip(), options


def check_options(cls: type[PositionalEncoding], options: dict[str, object], text: str) -> None:
    """Every option is one of the constructor's, and the constructor accepts the values (tried at PROBE)."""
    known = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", *PROBE)]
    unknown = [k for k in options if k not in known]
    if unknown:
        raise InputError(f"'{text}': {cls.name} has no option {unknown[0]!r}; its options: {', '.join(known) or 'none'}")
    try:
        cls(**PROBE, **options)
    except (TypeError, ValueError) as e:
        raise InputError(f"'{text}': {e}") from None


def configured(text: str, resolve: Callable[[str], str], classes: dict[str, type[PositionalEncoding]]
               ) -> type[PositionalEncoding]:
    """The class of ``name(options)``: ``name``'s, with the options as its defaults."""
    base_name, options = parse_entry(text)
    base = classes[resolve(base_name)]
    check_options(base, options, text)

    def __init__(self, **kwargs: object) -> None:  # noqa: N807
        base.__init__(self, **{**options, **kwargs})

    return type(base.__name__, (base,), {
        "name": text, "__init__": __init__, "options": options, "variant_of": base.variant_of or base.name,
        "check_options": {k: v for k, v in base.check_options.items() if k not in options},
        "description": f"{base.description}; options: " + ", ".join(f"{k}={v}" for k, v in options.items())})


def schedule(text: str, resolve: Callable[[str], str], classes: dict[str, type[PositionalEncoding]]) -> type[Schedule]:
    """The class of ``[entry,...]``: a Schedule of those layers."""
    if not text.endswith("]"):
        raise InputError(f"'{text}': a schedule is a bracketed list of encodings, e.g. [rope,rope,rope,nope]")
    entries = [e for e in split_top_level(text[1:-1]) if e]
    if not entries:
        raise InputError(f"'{text}': a schedule names at least one encoding, e.g. [rope,rope,rope,nope]")
    layers, windows = [], []
    for entry in entries:
        base_name, options = parse_entry(entry)
        window = options.pop("window", None)
        if window is not None and (not isinstance(window, int) or isinstance(window, bool) or window < 1):
            raise InputError(f"'{text}': window is how many of the latest keys a layer sees, an integer >= 1; "
                             f"got {window!r}")
        windows.append(window)
        plain = base_name if not options else f"{base_name}(" + ",".join(f"{k}={v}" for k, v in options.items()) + ")"
        layers.append(resolve(plain))
    parts = tuple(classes[n] for n in layers)
    check_parts(text, parts)
    return type("ComposedSchedule", (Schedule,), {
        "name": text, "layers": tuple(layers), "windows": tuple(windows), "variant_of": "schedule",
        **claims(parts, any(w is not None for w in windows)),
        "description": "layers " + ", ".join(entries) + " (cycled)"})
