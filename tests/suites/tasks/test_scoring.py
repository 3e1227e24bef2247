"""Scoring on hand-made answers."""

import torch

from pe_bench.suites.tasks.generators.scoring import exact_match, token_accuracy

TARGET = torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 1, 1]])
PREDICTED = torch.tensor([[1, 2, 3], [4, 0, 6], [0, 0, 0], [1, 1, 1]])
ALL = torch.ones(3, dtype=torch.bool)  # every byte is an answer


def test_only_answer_bytes_are_scored_and_each_example_may_have_its_own():
    answer = torch.tensor([[True, False, False], [True, False, True], [False, False, False], [False, True, True]])
    # row 1's wrong byte is not an answer; row 2 has none (right by default); 5 answer bytes, all right
    assert exact_match(PREDICTED, TARGET, answer) == 1.0
    assert token_accuracy(PREDICTED, TARGET, answer) == 1.0
    assert token_accuracy(PREDICTED, TARGET, torch.tensor([False, True, False])) == 0.5


def test_exact_match_counts_only_examples_right_in_every_byte():
    assert exact_match(PREDICTED, TARGET, ALL) == 0.5
    assert exact_match(TARGET, TARGET, ALL) == 1.0


def test_token_accuracy_counts_each_byte():
    assert abs(token_accuracy(PREDICTED, TARGET, ALL) - 8 / 12) < 1e-6
    assert token_accuracy(torch.zeros_like(TARGET), TARGET, ALL) == 0.0
