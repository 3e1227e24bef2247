"""How a task is trained: one recipe per preset, declared in the task's own file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    """How one task is trained: the same for every encoding."""

    train_len: int
    steps: int
    lr: float
    batch_size: int
    shortest: int = 0  # training lengths drawn from [max(the task's shortest, this), L]
    embedding_std: float | None = 0.02  # the model's token-embedding init (ModelConfig.embedding_std)
    #: None: the loss scores the answer bytes alone;
    #: A: (mean over every byte + A x mean over the answer bytes) / (1 + A),
    #: so the model also learns the text around the answer (passkey: the bias encodings found the key only so)
    answer_weight: float | None = None
