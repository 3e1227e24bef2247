"""Scoring generated answers against the true ones: pure functions on (B, A) byte tensors."""

from __future__ import annotations

from torch import Tensor


def exact_match(predicted: Tensor, target: Tensor) -> float:
    """Fraction of rows (examples) whose every answer byte is right."""
    return (predicted == target).all(dim=1).float().mean().item()


def token_accuracy(predicted: Tensor, target: Tensor) -> float:
    """Fraction of answer bytes that are right, over all examples."""
    return (predicted == target).float().mean().item()
