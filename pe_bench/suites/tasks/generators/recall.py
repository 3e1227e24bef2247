"""Multi-query associative recall (Zoology, Arora et al. 2023), byte-level.

Key-value pairs (a letter, then a digit; keys distinct), a separator, then queries: a key of
the pairs followed by its value, which is the answer. A length-T example has
n = (T - 1) // 2 two-byte slots: P = min(n // 2, 52) pairs and n - P queries (keys drawn with
replacement); an even T starts with one "." so every example has exactly T bytes.
"""

from __future__ import annotations

import torch

from pe_bench.suites.tasks.generators.example import Example, draw, example
from pe_bench.suites.tasks.generators.recipe import Recipe

KEYS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
VALUES = "0123456789"
SEPARATOR = "|"
MIN_LENGTH = 5  # one pair and one query
#: how the suite trains this task, per preset (the same for every encoding); the token embedding unit-sized
#: (embedding_std None): at GPT-2's 0.02 no encoding learned recall in 1000 steps. Quick scores every byte
#: beside the answers (answer_weight 1): the next byte's kind (letter or digit) depends on the one before,
#: so the loss rewards a previous-token head, the first half of the induction circuit recall needs, which
#: sinusoidal and KERPLE never formed on the answers alone (0.44 to 0.84 at L; all 14 learn it now, docs/tasks.md)
RECIPES = {"tiny": Recipe(8, 3, 3e-3, 4, embedding_std=None),
           "quick": Recipe(16, 2000, 1e-3, 64, embedding_std=None, answer_weight=1.0),
           "standard": Recipe(32, 3000, 1e-3, 64, embedding_std=None)}


def make(length: int, generator: torch.Generator, depth: float | None = None) -> Example:
    """A recall example of exactly ``length`` bytes (``depth`` is not used)."""
    n = (length - 1) // 2
    n_pairs = min(n // 2, len(KEYS))
    keys = [KEYS[i] for i in torch.randperm(len(KEYS), generator=generator)[:n_pairs].tolist()]
    values = dict(zip(keys, draw(VALUES, n_pairs, generator)))
    queries = [keys[i] for i in torch.randint(n_pairs, (n - n_pairs,), generator=generator).tolist()]
    parts = [("." * (length - 2 * n - 1) + "".join(k + values[k] for k in keys) + SEPARATOR, False)]
    for key in queries:
        parts += [(key, False), (values[key], True)]
    return example(*parts)
