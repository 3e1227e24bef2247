"""Training batches of task examples, and randomized positions (Ruoss et al. 2023).

Every step draws one length uniformly from [the task's shortest (or ``shortest`` if longer), L]
(so lengths vary across steps; a batch shares one length, as the model's positions are shared
by the batch) and
``batch_size`` examples of it. The loss mask keeps the answer bytes only: the filler and the
random strings are unpredictable by design and would only add noise to the loss.

With ``randomize`` = N, every step's positions are T values drawn without replacement from
[0, N) and sorted, instead of 0..T-1; evaluation uses 0..T-1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from pe_bench.tasks import TASKS

Batch = tuple[Tensor, Tensor, Tensor | None, Tensor | None]  # inputs, targets, positions, loss mask


def randomized_positions(length: int, span: int, generator: torch.Generator) -> Tensor:
    """``length`` distinct positions from [0, ``span``), sorted ascending: (length,) long."""
    if length > span:
        raise ValueError(f"cannot draw {length} distinct positions from [0, {span})")
    return torch.randperm(span, generator=generator)[:length].sort().values


def stack(task: str, length: int, count: int, generator: torch.Generator, depth: float | None = None
          ) -> tuple[Tensor, Tensor]:
    """``count`` examples of ``length`` bytes: tokens (count, length) and the shared answer mask (length,)."""
    examples = [TASKS[task].make(length, generator, depth) for _ in range(count)]
    return torch.stack([e.tokens for e in examples]), examples[0].answer


def sampler(task: str, max_len: int, batch_size: int, randomize: int = 0, shortest: int = 0
            ) -> Callable[[torch.Generator], Batch]:
    """A batch sampler for ``training.train``: next-byte inputs, targets, positions and loss mask;
    lengths from [max(the task's shortest, ``shortest``), ``max_len``]."""
    shortest = min(max(TASKS[task].min_length, shortest), max_len)

    def sample(generator: torch.Generator) -> Batch:
        length = int(torch.randint(shortest, max_len + 1, (), generator=generator))
        tokens, answer = stack(task, length, batch_size, generator)
        positions = randomized_positions(length - 1, randomize, generator) if randomize else None
        return tokens[:, :-1], tokens[:, 1:], positions, answer[1:].expand(batch_size, -1)

    return sample
