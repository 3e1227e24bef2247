"""Greedy answers through the KV cache equal greedy answers without one."""

import torch

from pe_bench.suites.tasks.generators import TASKS
from pe_bench.suites.tasks.generators.batches import randomized_positions, stack
from pe_bench.suites.tasks.generators.generate import greedy_answers

from conftest import sharpened, tiny_model


def uncached_answers(model, tokens, answer, positions=None):
    """The reference: one full forward per answer byte over everything before it, own answers fed back."""
    tokens = tokens.clone()
    answer = answer.expand_as(tokens)
    positions = torch.arange(tokens.shape[1]) if positions is None else positions
    with torch.no_grad():
        for position in answer.any(0).nonzero().flatten().tolist():
            guess = model(tokens[:, :position], positions[:position])[:, -1].argmax(-1)
            tokens[:, position] = torch.where(answer[:, position], guess, tokens[:, position])
    return tokens


def test_cached_greedy_answers_match_full_forwards_for_every_task():
    model = tiny_model("rope").eval()
    for task in TASKS:
        tokens, answer = stack(task, TASKS[task].min_length + 9, 3, torch.Generator().manual_seed(0))
        assert torch.equal(greedy_answers(model, tokens, answer), uncached_answers(model, tokens, answer))


def test_answers_at_different_places_per_example_are_each_generated_and_the_rest_kept():
    """flip-flop's layout differs between examples: every example's own answer slots, and only those, change."""
    model = tiny_model("rope").eval()
    tokens, answer = stack("flipflop", 40, 4, torch.Generator().manual_seed(3))
    assert answer.shape == tokens.shape  # per-example layouts
    out = greedy_answers(model, tokens, answer)
    assert torch.equal(out, uncached_answers(model, tokens, answer))
    assert torch.equal(out[~answer], tokens[~answer])


def test_answers_at_given_positions_match_full_forwards_at_those_positions():
    """A randomized model is asked at sorted random positions: the cache must carry them, not 0..T-1."""
    tokens, answer = stack("copy", 21, 3, torch.Generator().manual_seed(1))
    positions = randomized_positions(21, 160, torch.Generator().manual_seed(2))
    for name in ("rope", "alibi", "learned"):
        model = sharpened(tiny_model(name).eval(), 30.0)  # sharp attention: answers that depend on the positions
        asked = greedy_answers(model, tokens, answer, positions)
        assert torch.equal(asked, uncached_answers(model, tokens, answer, positions)), name
        assert not torch.equal(asked, greedy_answers(model, tokens, answer)), name  # the positions change the answers
