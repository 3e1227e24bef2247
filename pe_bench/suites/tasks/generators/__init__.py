"""Synthetic tasks for length generalization: the registry.

Each task is a pure generator, ``make(length, generator, depth) -> Example``: exactly ``length``
bytes from a seeded ``torch.Generator``, nothing downloaded. ``TASKS`` maps each name to a
``Task`` (its generator, the shortest length it fits in, its headline metric and its
evaluation depths); the suite, the CLI's choices and the tests loop over it, so a new task
is one file (its generator and its recipes) plus one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from pe_bench.errors import InputError
from pe_bench.suites.tasks.generators import copy, flipflop, passkey, recall
from pe_bench.suites.tasks.generators.example import Example
from pe_bench.suites.tasks.generators.recipe import Recipe


@dataclass(frozen=True)
class Task:
    """A task as the suite sees it.

    ``exact`` says how its accuracy is counted: an example is right when all its answer bytes
    are (passkey: the 5 digits; copy: the whole string), or each answer byte is scored on its
    own (recall: one per query; flip-flop: one per read). ``depths`` names evaluation conditions:
    where passkey's line sits, flip-flop's mixes of instructions. ``options`` names keyword
    arguments of ``make`` that the tasks suite's settings hold under the same name.
    """

    name: str
    make: Callable[..., Example]  # (length, generator, depth, **options) -> Example
    min_length: int
    exact: bool
    depths: dict[str, float | None] | None = None
    options: tuple[str, ...] = ()
    #: how the suite trains it, per preset (tiny, quick, standard); a preset not named takes quick's
    recipes: Mapping[str, Recipe] = field(default_factory=dict)
    #: the depths whose mean is the task's accuracy (learned at L, tables, summary); None: all of them.
    #: Flip-flop's is its training mix: the dense and sparse mixes are shown beside it, not averaged in
    headline: tuple[str, ...] | None = None

    def recipe(self, preset: str) -> Recipe:
        """The recipe for ``preset``: its own, else quick's, else a default sized by ``min_length``."""
        found = self.recipes.get(preset) or self.recipes.get("quick")
        return found or Recipe(train_len=max(32, self.min_length), steps=400, lr=1e-3, batch_size=32)


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("passkey", passkey.make, passkey.MIN_LENGTH, exact=True, depths=passkey.DEPTHS, recipes=passkey.RECIPES),
    Task("copy", copy.make, copy.MIN_LENGTH, exact=True, recipes=copy.RECIPES),
    Task("recall", recall.make, recall.MIN_LENGTH, exact=False, recipes=recall.RECIPES),
    Task("flipflop", flipflop.make, flipflop.MIN_LENGTH, exact=False, depths=flipflop.DEPTHS,
         options=("flip_flop_probs",), recipes=flipflop.RECIPES, headline=flipflop.HEADLINE),
)}


def check_length(task: str, length: int, flag: str) -> None:
    """InputError if ``length`` is shorter than ``task`` needs."""
    need = TASKS[task].min_length
    if length < need:
        raise InputError(f"{flag} {length} is too short for task {task}: an example needs at least {need} bytes")


__all__ = ["TASKS", "Example", "Recipe", "Task", "check_length"]
