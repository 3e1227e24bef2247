"""Flip-flop language modelling (Liu et al. 2023, "Exposing attention glitches with flip-flop
language modeling"), byte-level.

A sequence of two-byte instructions: "w" then a bit (write it), "i" then a bit (ignore it), "r"
then a bit (read: the bit is the last one written, and it is the answer). The first instruction
is a write, so every read has an answer, and the last is a read, so every example has one; the
others are drawn with probabilities (p_write, p_ignore, p_read), the training mix (0.1, 0.8, 0.1)
by default as in the paper. Evaluation also uses its sparse and dense mixes (p_ignore 0.98 and
0.1, the rest split evenly between write and read): a read far from its write is where the paper
finds the rare "glitches" that keep a transformer's error above zero. An odd length starts with
one "." so every example has exactly ``length`` bytes.
"""

from __future__ import annotations

import math

import torch

from pe_bench.errors import InputError
from pe_bench.suites.tasks.generators.example import Example, example
from pe_bench.suites.tasks.generators.recipe import Recipe

PROBS = (0.1, 0.8, 0.1)  # write, ignore, read: the paper's training mix
#: evaluation mixes, by p_ignore (None: the training mix)
DEPTHS = {"dense": 0.1, "train": None, "sparse": 0.98}
HEADLINE = ("train",)  # learned or not, and the summary, on the training mix
MIN_LENGTH = 4  # a write and a read
#: how the suite trains this task, per preset (the same for every encoding); quick: 400 steps taught six of twelve
#: encodings the training mix at seed 0, 1000 twelve of fourteen, 2000 took T5 from 0.89 to 1.00 (docs/tasks.md)
RECIPES = {"tiny": Recipe(32, 3, 3e-3, 4), "quick": Recipe(64, 2000, 1e-3, 32),
           "standard": Recipe(64, 3000, 1e-3, 32)}


def check_probs(probs: tuple[float, ...], flag: str = "--flip-flop-probs") -> tuple[float, float, float]:
    """``probs`` as (write, ignore, read) if they are three non-negative numbers summing to 1 with a read."""
    if len(probs) != 3 or any(not math.isfinite(p) or p < 0 for p in probs) or abs(sum(probs) - 1) > 1e-6:
        raise InputError(f"{flag} takes three probabilities write,ignore,read, each >= 0 and summing to 1 "
                         f"(the paper's: 0.1,0.8,0.1), got {','.join(str(p) for p in probs)}")
    if probs[2] <= 0:
        raise InputError(f"{flag} leaves no read (p_read = {probs[2]}): nothing would be answered")
    return probs[0], probs[1], probs[2]


def mix(p_ignore: float | None, probs: tuple[float, float, float] = PROBS) -> tuple[float, float, float]:
    """(write, ignore, read) for an evaluation mix: ``probs`` itself, or p_ignore with the rest split evenly."""
    if p_ignore is None:
        return probs
    return (1 - p_ignore) / 2, p_ignore, (1 - p_ignore) / 2


def make(length: int, generator: torch.Generator, depth: float | None = None,
         flip_flop_probs: tuple[float, float, float] = PROBS) -> Example:
    """A flip-flop example of exactly ``length`` bytes; ``depth`` is p_ignore of an evaluation mix
    (None: ``flip_flop_probs``, the training mix: write, ignore, read)."""
    n = length // 2
    weights = torch.tensor(mix(depth, flip_flop_probs))
    ops = torch.multinomial(weights, n, replacement=True, generator=generator).tolist()  # 0 w, 1 i, 2 r
    ops[0], ops[-1] = 0, 2
    bits = torch.randint(2, (n,), generator=generator).tolist()
    parts, last = [("." * (length - 2 * n), False)], 0
    for op, bit in zip(ops, bits):
        if op == 2:
            parts += [("r", False), (str(last), True)]
        else:
            last = bit if op == 0 else last
            parts.append(("wi"[op] + str(bit), False))
    return example(*parts)
