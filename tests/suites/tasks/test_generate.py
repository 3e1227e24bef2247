"""Greedy answers through the KV cache equal greedy answers without one."""

import torch

from pe_bench.suites.tasks.generators import TASKS
from pe_bench.suites.tasks.generators.batches import stack
from pe_bench.suites.tasks.generators.generate import greedy_answers

from conftest import tiny_model


def uncached_answers(model, tokens, answer):
    """The reference: one full forward per answer byte over everything before it, own answers fed back."""
    tokens = tokens.clone()
    answer = answer.expand_as(tokens)
    with torch.no_grad():
        for position in answer.any(0).nonzero().flatten().tolist():
            guess = model(tokens[:, :position])[:, -1].argmax(-1)
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
