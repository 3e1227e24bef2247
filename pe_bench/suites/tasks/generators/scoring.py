"""Scoring generated answers against the true ones: pure functions on (B, T) byte tensors and the
answer mask, (T,) or (B, T), True at the bytes scored."""

from __future__ import annotations

from torch import Tensor


def exact_match(predicted: Tensor, target: Tensor, answer: Tensor) -> float:
    """Fraction of rows (examples) whose every answer byte is right."""
    wrong = (predicted != target) & answer.expand_as(target)
    return (~wrong.any(dim=1)).float().mean().item()


def token_accuracy(predicted: Tensor, target: Tensor, answer: Tensor) -> float:
    """Fraction of answer bytes that are right, over all examples."""
    mask = answer.expand_as(target)
    return (predicted == target)[mask].float().mean().item()
