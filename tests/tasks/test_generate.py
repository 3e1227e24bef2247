"""Greedy answers through the KV cache equal greedy answers without one."""

import torch

from pe_bench.tasks import TASKS
from pe_bench.tasks.batches import stack
from pe_bench.tasks.generate import greedy_answers

from conftest import tiny_model


def uncached_answers(model, tokens, answer):
    """The reference: one full forward per answer byte over everything before it, own answers fed back."""
    tokens = tokens.clone()
    out = []
    with torch.no_grad():
        for position in answer.nonzero().flatten().tolist():
            guess = model(tokens[:, :position])[:, -1].argmax(-1)
            tokens[:, position] = guess
            out.append(guess)
    return torch.stack(out, dim=1)


def test_cached_greedy_answers_match_full_forwards_for_every_task():
    model = tiny_model("rope").eval()
    for task in TASKS:
        tokens, answer = stack(task, TASKS[task].min_length + 9, 3, torch.Generator().manual_seed(0))
        assert torch.equal(greedy_answers(model, tokens, answer), uncached_answers(model, tokens, answer))
