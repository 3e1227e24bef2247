"""Passkey retrieval, in the format of Mohtashami & Jaggi 2023 (landmark attention).

Filler text repeated and cut to length, split at a depth around the line "The pass key is K.
Remember it. K is the pass key.", then "What is the pass key? The pass key is"; the answer is
" K", K a random 5-digit number (10000..99999). The filler holds no digit, so K appears only
in its line. The split is at a byte: depth 0 puts the line first, depth 1 just before the question.
"""

from __future__ import annotations

import torch

from pe_bench.suites.tasks.generators.example import Example, example
from pe_bench.suites.tasks.generators.recipe import Recipe

FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
QUESTION = "What is the pass key? The pass key is"
#: evaluation depths: where the pass key line sits in the filler
DEPTHS = {"start": 0.0, "middle": 0.5, "end": 1.0}


def needle(key: str) -> str:
    return f"The pass key is {key}. Remember it. {key} is the pass key. "


MIN_LENGTH = len(needle("12345")) + len(QUESTION) + len(" 12345")
#: how the suite trains this task, per preset (the same for every encoding). Quick: scored on the answer alone (1000
#: steps of 16) only RoPE's family learned it; scoring every byte with the answer weighted 3 and a unit-sized embedding
#: (2000 steps of 8) seven of fourteen did, and 3000 steps ten (lr 1e-3 instead lost sinusoidal and Sandwich; docs/tasks.md)
RECIPES = {"tiny": Recipe(104, 3, 3e-3, 4),
           "quick": Recipe(128, 3000, 2e-3, 8, embedding_std=None, answer_weight=3.0),
           "standard": Recipe(128, 3000, 1e-3, 16)}


def make(length: int, generator: torch.Generator, depth: float | None = None) -> Example:
    """A passkey example of exactly ``length`` bytes; ``depth`` in [0, 1], or None for a random one."""
    key = str(int(torch.randint(10000, 100000, (), generator=generator)))
    line = needle(key)
    n_filler = length - len(line) - len(QUESTION) - len(" " + key)
    filler = (FILLER * (n_filler // len(FILLER) + 1))[:n_filler]
    if depth is None:
        depth = float(torch.rand((), generator=generator))
    split = round(depth * n_filler)
    return example((filler[:split] + line + filler[split:] + QUESTION, False), (" " + key, True))
