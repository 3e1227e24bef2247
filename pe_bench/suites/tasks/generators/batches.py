"""Training batches of task examples, and randomized positions (Ruoss et al. 2023).

Every example of a batch has its own length, drawn uniformly from [the task's shortest (or
``shortest`` if longer), L], and is right-padded to the batch's longest. The mix matters: with
one length per batch (as this module drew until issue 21) every example of a step has the same
offset between a string and its copy, each step rewards the positional shortcut for that
offset, and the content-matching circuit did not form (copy per byte 0.33 against 0.93 after
600 steps, the same model). The loss mask keeps the answer bytes only: the filler and the random
strings are unpredictable by design and would only add noise to the loss; padding is never scored.

With ``randomize`` = N, every step's positions are T values drawn without replacement from
[0, N) and sorted, instead of 0..T-1; evaluation uses 0..T-1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from pe_bench.suites.tasks.generators import TASKS
from pe_bench.suites.tasks.generators.example import Example

#: the byte that pads a shorter example to the batch's longest (no task uses it)
PAD = 0

Batch = tuple[Tensor, Tensor, Tensor | None, Tensor | None]  # inputs, targets, positions, loss mask


def randomized_positions(length: int, span: int, generator: torch.Generator) -> Tensor:
    """``length`` distinct positions from [0, ``span``), sorted ascending: (length,) long."""
    if length > span:
        raise ValueError(f"cannot draw {length} distinct positions from [0, {span})")
    return torch.randperm(span, generator=generator)[:length].sort().values


def stack(task: str, length: int, count: int, generator: torch.Generator, depth: float | None = None,
          **options: object) -> tuple[Tensor, Tensor]:
    """``count`` examples of ``length`` bytes: tokens (count, length) and the answer mask (length,)
    (passkey, copy, recall: the same for every example of a length) or (count, length) (flip-flop)."""
    examples = [TASKS[task].make(length, generator, depth, **options) for _ in range(count)]
    if any(not torch.equal(e.answer, examples[0].answer) for e in examples):
        return torch.stack([e.tokens for e in examples]), torch.stack([e.answer for e in examples])
    return torch.stack([e.tokens for e in examples]), examples[0].answer


def padded(examples: list[Example]) -> tuple[Tensor, Tensor]:
    """Examples of different lengths right-padded with ``PAD`` to the longest: tokens (B, T) and the
    answer mask (B, T), False on padding. Under a causal mask no byte of an example sees its padding."""
    longest = max(e.tokens.numel() for e in examples)
    tokens = torch.full((len(examples), longest), PAD, dtype=torch.long)
    answer = torch.zeros(len(examples), longest, dtype=torch.bool)
    for row, e in enumerate(examples):
        tokens[row, : e.tokens.numel()] = e.tokens
        answer[row, : e.answer.numel()] = e.answer
    return tokens, answer


def loss_weights(tokens: Tensor, answer: Tensor, answer_weight: float) -> Tensor:
    """Per-target weights (B, T), summing to 1: (every non-padding byte's share + ``answer_weight`` x every answer
    byte's share) / (1 + ``answer_weight``)."""
    valid, answers = (tokens != PAD).double(), answer.double()
    weights = valid / valid.sum().clamp(min=1) + answer_weight * answers / answers.sum().clamp(min=1)
    return (weights / (1 + answer_weight)).float()


def sampler(task: str, max_len: int, batch_size: int, randomize: int = 0, shortest: int = 0,
            options: dict[str, object] | None = None, answer_weight: float | None = None
            ) -> Callable[[torch.Generator], Batch]:
    """A batch sampler for ``training.train``: next-byte inputs, targets, positions and loss mask (the answer
    bytes), or with ``answer_weight`` the targets' loss weights (``loss_weights``); each example's length drawn
    from [max(the task's shortest, ``shortest``), ``max_len``]; ``options``: the task's generator options
    (flip-flop's probabilities)."""
    shortest = min(max(TASKS[task].min_length, shortest), max_len)
    make = TASKS[task].make

    def sample(generator: torch.Generator) -> Batch:
        lengths = torch.randint(shortest, max_len + 1, (batch_size,), generator=generator).tolist()
        tokens, answer = padded([make(n, generator, None, **(options or {})) for n in lengths])
        positions = randomized_positions(tokens.shape[1] - 1, randomize, generator) if randomize else None
        if answer_weight is not None:
            return tokens[:, :-1], tokens[:, 1:], positions, loss_weights(tokens[:, 1:], answer[:, 1:], answer_weight)
        return tokens[:, :-1], tokens[:, 1:], positions, answer[:, 1:]

    return sample
