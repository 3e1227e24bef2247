"""Parsing and validating user input, before any work starts.

Every function raises ``InputError`` with a message that says what was wrong and what is
allowed; the CLI prints it as one line and exits with code 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from pe_bench.errors import InputError


def parse_int_list(text: str, option: str, minimum: int = 1) -> tuple[int, ...]:
    """'128,256' -> (128, 256); every item an integer >= ``minimum``, none twice ('16,016' lists 16 twice)."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise InputError(f"{option} must be a comma-separated list of integers, got '{text}'")
    values = []
    for item in items:
        try:
            value = int(item)
        except ValueError:
            raise InputError(f"{option} must be integers >= {minimum}, got '{item}'") from None
        if value < minimum:
            raise InputError(f"{option} must be integers >= {minimum}, got {value}")
        if value in values:
            raise InputError(f"{option} lists {value} twice; give each value once")
        values.append(value)
    return tuple(values)


def check_int(value: int, option: str, minimum: int = 1) -> int:
    """``value`` if it is at least ``minimum``; otherwise an InputError naming ``option``."""
    if value < minimum:
        raise InputError(f"{option} must be >= {minimum}, got {value}")
    return value


#: seeds are 0 <= seed < MAX_SEED: torch takes 64-bit seeds, and pe-bench adds lengths to them
MAX_SEED = 2 ** 63


def check_seed(value: int, flag: str = "--seed") -> int:
    """``value`` if it is a seed torch can take, 0 <= seed < 2**63; otherwise an InputError naming ``flag``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_SEED:
        raise InputError(f"{flag} must be an integer from 0 to {MAX_SEED - 1}, got {value}")
    return value


def parse_choices(text: str, option: str, valid: Sequence[str], allow_all: bool = False,
                  noun: str | None = None, all_means: Sequence[str] | None = None) -> tuple[str, ...]:
    """'a,b' -> ('a', 'b'), each one of ``valid``; 'all' -> ``all_means`` (default: every valid choice) if allowed.

    ``noun`` names one item in messages (default: the option's name without its plural s).
    """
    items = [item.strip() for item in text.split(",") if item.strip()]
    if allow_all and items == ["all"]:
        return tuple(valid if all_means is None else all_means)
    if not items:
        raise InputError(f"{option} is empty; valid: {', '.join(valid)}")
    if allow_all and "all" in items and "all" not in valid:
        raise InputError(f"{option} takes all alone or a list of names, not all among others; valid: "
                         f"{', '.join(valid)}, or all")
    for item in items:
        if item not in valid:
            extra = ", or all" if allow_all else ""
            noun = noun or option.lstrip("-").removesuffix("s")
            raise InputError(f"unknown {noun} '{item}'; valid: {', '.join(valid)}{extra}")
    return tuple(dict.fromkeys(items))  # de-duplicated, order kept


def check_choice(value: str, option: str, valid: Iterable[str]) -> str:
    """``value`` if it is one of ``valid``; otherwise an InputError listing them."""
    valid = list(valid)
    if value not in valid:
        raise InputError(f"unknown {option.lstrip('-')} '{value}'; valid: {', '.join(valid)}")
    return value


# Suite options, declared once as settings fields: ``option(...)`` marks a field of a suite's
# settings dataclass as a command-line option; ``options_of`` reads them back, each with the
# kind its type says (an int, a path, a comma-separated list of ints or of names, a switch).

OPTION = "pe_bench.option"  # the dataclass field metadata key


@dataclass(frozen=True)
class Option:
    """A settings field a user can set from the command line (``--seq-lens 128,256``).

    ``kind`` follows the field's type: ``int``, ``float``, ``path``, ``text`` (one of
    ``choices``), ``flag`` (bool: absent means "the preset decides"), or a comma-separated
    list: ``ints`` (``tuple[int, ...]``), ``floats``, ``texts`` (each one of ``choices``).
    ``parse`` turns the command line's value into the field's value, raising InputError; a
    Python caller passes the field's value directly, and the suite's ``validate`` checks what
    depends on other settings. Two suites' options of one name mean one thing: the same kind,
    help and choices (``command_options`` refuses anything else).
    """

    name: str  # the settings field, e.g. "seq_lens"; the flag is --seq-lens
    help: str
    kind: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None  # for int and ints
    noun: str | None = None  # one item, in messages (default: the flag without its plural s)
    convert: Callable[[Any, str], Any] | None = None  # what a type cannot say (--seeds: a count or a list)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def is_list(self) -> bool:
        return self.kind in ("ints", "floats", "texts")

    @property
    def is_flag(self) -> bool:
        return self.kind == "flag"

    @property
    def cli_type(self) -> type:
        """What the command line reads before ``parse``: a list arrives as its text."""
        return {"int": int, "float": float, "path": Path, "flag": bool}.get(self.kind, str)

    def parse(self, value: Any, flag: str | None = None) -> Any:
        """The settings value of the command line's ``value``; None where the preset decides."""
        flag = flag or self.flag
        if value is None or (self.is_flag and not value):
            return None
        if self.convert is not None:
            return self.convert(value, flag)
        if self.kind == "int":
            return check_int(value, flag, self.minimum) if self.minimum is not None else value
        if self.kind == "ints":
            return parse_int_list(value, flag, 1 if self.minimum is None else self.minimum)
        if self.kind == "floats":
            return parse_float_list(value, flag)
        if self.kind == "texts":
            return parse_choices(value, flag, list(self.choices), noun=self.noun)
        if self.kind == "text" and self.choices:
            return check_choice(value, flag, self.choices)
        return value


def option(help: str, default: Any = MISSING, *, choices: Sequence[str] = (), minimum: int | None = None,
           noun: str | None = None, convert: Callable[[Any, str], Any] | None = None) -> Any:
    """A settings field that is also a command-line option; its kind follows the field's type."""
    return field(default=default, metadata={OPTION: dict(help=help, choices=tuple(choices), minimum=minimum,
                                                         noun=noun, convert=convert)})


def options_of(settings_type: type) -> tuple[Option, ...]:
    """The options a settings dataclass declares with ``option()``, in field order."""
    hints = get_type_hints(settings_type)
    return tuple(Option(f.name, kind=_kind(hints[f.name], f"{settings_type.__name__}.{f.name}"), **f.metadata[OPTION])
                 for f in fields(settings_type) if OPTION in f.metadata)


_SCALARS = {int: "int", float: "float", Path: "path", str: "text", bool: "flag"}


def _kind(hint: Any, where: str) -> str:
    """The option kind of a field's type: ``int | None`` is ``int``, ``tuple[int, ...]`` is ``ints``."""
    args = [a for a in get_args(hint) if a is not type(None)]
    if get_origin(hint) in (Union, UnionType) and len(args) == 1:
        hint = args[0]
    if hint in _SCALARS:
        return _SCALARS[hint]
    items = set(get_args(hint)) - {Ellipsis}
    if get_origin(hint) is tuple and len(items) == 1 and (item := items.pop()) in (int, float, str):
        return {int: "ints", float: "floats", str: "texts"}[item]
    raise TypeError(f"{where}: an option's type must be int, float, str, bool, Path or a tuple of int, float or "
                    f"str (optionally | None), not {hint}")


def parse_float_list(text: str, option: str) -> tuple[float, ...]:
    """'0.1,0.8,0.1' -> (0.1, 0.8, 0.1)."""
    try:
        return tuple(float(item) for item in text.split(","))
    except ValueError:
        raise InputError(f"{option} takes comma-separated numbers, got '{text}'") from None
