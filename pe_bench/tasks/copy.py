"""Copy: a random string over a small alphabet, a separator, then the same string (the answer).

A length-T example holds a string of n = (T - 1) // 2 characters; an even T starts with one
"." so every example has exactly T bytes.
"""

from __future__ import annotations

import torch

from pe_bench.tasks.example import Example, draw, example

ALPHABET = "abcdefghijklmnopqrstuvwxyz"
SEPARATOR = "|"
MIN_LENGTH = 5  # a string of two characters


def make(length: int, generator: torch.Generator, depth: float | None = None) -> Example:
    """A copy example of exactly ``length`` bytes (``depth`` is not used)."""
    n = (length - 1) // 2
    source = draw(ALPHABET, n, generator)
    return example(("." * (length - 2 * n - 1) + source + SEPARATOR, False), (source, True))
