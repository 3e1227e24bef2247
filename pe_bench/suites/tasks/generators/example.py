"""What every task generator returns: one byte sequence and which of its bytes are the answer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Example:
    """A task instance: ``tokens`` (T,) bytes as longs, ``answer`` (T,) bool, True at answer bytes.

    A model reads the bytes left to right and is scored on the answer bytes only, each predicted
    from everything before it (the bytes given and, in generation, its own earlier answers).
    """

    tokens: Tensor
    answer: Tensor

    @property
    def text(self) -> str:
        return bytes(self.tokens.tolist()).decode("latin-1")

    @property
    def answer_text(self) -> str:
        return bytes(self.tokens[self.answer].tolist()).decode("latin-1")


def encode(text: str) -> Tensor:
    """Bytes of an ASCII string, as a (len,) long tensor."""
    return torch.tensor(list(text.encode("ascii")), dtype=torch.long)


def example(*parts: tuple[str, bool]) -> Example:
    """An Example from (text, is_answer) parts, in order."""
    tokens = encode("".join(text for text, _ in parts))
    answer = torch.cat([torch.full((len(text),), is_answer, dtype=torch.bool) for text, is_answer in parts])
    return Example(tokens, answer)


def draw(alphabet: str, n: int, generator: torch.Generator) -> str:
    """``n`` characters drawn uniformly (with replacement) from ``alphabet``."""
    return "".join(alphabet[i] for i in torch.randint(len(alphabet), (n,), generator=generator).tolist())
