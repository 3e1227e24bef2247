"""A new task is one file (its generator and its recipes) plus one registry line: the tasks suite
trains, scores, tabulates and draws it with no other edit. The task below is that file; the
fixture is the registry line. It is "repeat": a letter, a separator, the same letter."""

import pandas as pd
import pytest
import torch

import pe_bench
from pe_bench.suites.tasks.generators import TASKS, Recipe, Task
from pe_bench.suites.tasks.generators.example import Example, draw, example

MIN_LENGTH = 3
RECIPES = {"tiny": Recipe(train_len=8, steps=3, lr=3e-3, batch_size=4)}  # other presets take a default


def make(length: int, generator: torch.Generator, depth: float | None = None) -> Example:
    letter = draw("abc", 1, generator)
    return example(("." * (length - 3) + letter + "|", False), (letter, True))


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(TASKS, "repeat", Task("repeat", make, MIN_LENGTH, exact=True, recipes=RECIPES))


def test_the_suite_takes_a_new_task_end_to_end(registered, tmp_path):
    done = pe_bench.run("rope", "tasks", "tiny", device="cpu", out=tmp_path, tasks=("repeat",))
    rows = pd.read_csv(tmp_path / "tasks.csv")
    assert set(rows["task"]) == {"repeat"} and set(rows["eval_len"]) == {8, 16, 32}
    assert rows["accuracy"].between(0, 1).all()
    assert "rope" in set(done.summary["encoding"])


def test_a_preset_the_task_names_no_recipe_for_takes_a_default(registered):
    assert TASKS["repeat"].recipe("standard").train_len >= MIN_LENGTH
    assert TASKS["repeat"].recipe("tiny") == RECIPES["tiny"]
