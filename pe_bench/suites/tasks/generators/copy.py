"""Copy: a random string over a small alphabet, a separator, then the same string (the answer).

A length-T example holds a string of n = (T - 1) // 2 characters; an even T starts with one
"." so every example has exactly T bytes.
"""

from __future__ import annotations

import torch

from pe_bench.suites.tasks.generators.example import Example, draw, example
from pe_bench.suites.tasks.generators.recipe import Recipe

ALPHABET = "abcdefghijklmnopqrstuvwxyz"
SEPARATOR = "|"
MIN_LENGTH = 5  # a string of two characters
#: how the suite trains this task, per preset (the same for every encoding)
# lengths from 3 (a string of one letter), so the offset between a string and its copy varies and
# cannot be learned by position. Quick: 1000 steps taught eight of fourteen encodings at seed 0; the
# copying circuit forms late for the bias encodings and NoPE (2000 steps: four more, 3000: all six; docs/tasks.md)
RECIPES = {"tiny": Recipe(8, 3, 3e-3, 4), "quick": Recipe(16, 3000, 2e-3, 64, shortest=3),
           "standard": Recipe(32, 3000, 1e-3, 64, shortest=3)}


def make(length: int, generator: torch.Generator, depth: float | None = None) -> Example:
    """A copy example of exactly ``length`` bytes (``depth`` is not used)."""
    n = (length - 1) // 2
    source = draw(ALPHABET, n, generator)
    return example(("." * (length - 2 * n - 1) + source + SEPARATOR, False), (source, True))
