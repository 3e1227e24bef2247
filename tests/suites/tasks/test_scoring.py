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


def test_flip_flop_is_learned_or_not_on_its_training_mix_and_passkey_on_the_mean_of_its_depths():
    from pe_bench.suites.tasks.measure import learned_at_l
    from pe_bench.suites.tasks.report import by_length
    import pandas as pd

    def rows(task, accuracies):
        return [{"task": task, "eval_len": 64, "depth": depth, "accuracy": accuracy, "supported": True}
                for depth, accuracy in accuracies.items()]
    flipflop = rows("flipflop", {"dense": 0.5, "train": 0.95, "sparse": 0.7})
    assert learned_at_l(flipflop, "flipflop", 64)  # the dense and sparse mixes are not averaged in
    assert not learned_at_l(rows("flipflop", {"dense": 1.0, "train": 0.85, "sparse": 1.0}), "flipflop", 64)
    assert not learned_at_l(rows("passkey", {"start": 0.7, "middle": 1.0, "end": 0.95}), "passkey", 64)
    table = pd.DataFrame([dict(r, encoding="rope", variant="rope", train_len=64, learned=True, seed=0)
                          for r in flipflop])
    assert by_length(table)["accuracy"].tolist() == [0.95]
