"""Parsing and validating user input, before any work starts.

Every function raises ``InputError`` with a message that says what was wrong and what is
allowed; the CLI prints it as one line and exits with code 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

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


# Parsers for suite options (``pe_bench.suite.Option.parse``): each takes the command line's
# value and the flag it came from, and returns the settings value or raises InputError.


def int_list(minimum: int = 1) -> Callable[[str, str], tuple[int, ...]]:
    """'128,256' -> (128, 256), every item an integer >= ``minimum``."""
    return lambda text, flag: parse_int_list(text, flag, minimum)


def choice_list(valid: Sequence[str], noun: str | None = None) -> Callable[[str, str], tuple[str, ...]]:
    """'a,b' -> ('a', 'b'), each one of ``valid``."""
    return lambda text, flag: parse_choices(text, flag, list(valid), noun=noun)


def at_least(minimum: int = 1) -> Callable[[int, str], int]:
    """An integer >= ``minimum``."""
    return lambda value, flag: check_int(value, flag, minimum)


def as_given(value: object, flag: str) -> object:
    """The value unchanged: its allowed range depends on other settings, which the suite checks."""
    return value


def switch(value: bool, flag: str) -> bool | None:
    """A flag: present means True, absent means "the preset decides" (None)."""
    return True if value else None
