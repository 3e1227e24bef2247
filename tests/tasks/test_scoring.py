"""Scoring on hand-made answers."""

import torch

from pe_bench.tasks.scoring import exact_match, token_accuracy

TARGET = torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 1, 1]])
PREDICTED = torch.tensor([[1, 2, 3], [4, 0, 6], [0, 0, 0], [1, 1, 1]])


def test_exact_match_counts_only_examples_right_in_every_byte():
    assert exact_match(PREDICTED, TARGET) == 0.5
    assert exact_match(TARGET, TARGET) == 1.0


def test_token_accuracy_counts_each_byte():
    assert abs(token_accuracy(PREDICTED, TARGET) - 8 / 12) < 1e-6
    assert token_accuracy(torch.zeros_like(TARGET), TARGET) == 0.0
