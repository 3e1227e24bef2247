"""The gradient of attention's scores, one block of queries at a time: what a trained bias gets.

With P = softmax(S) row by row and O = P V, the scores' gradient is
dS = P * (dO Vᵀ - rowsum(dO * O)) (the softmax's backward of dP = dO Vᵀ), and an additive bias
gets dS itself, summed over what shares it. The backends that train a bias through a fused
kernel (sdpa.py's learned mask, causal_bias.py, split.py) get the kernel's gradients for q, k
and v, find a block's P each their own way (a softmax, or the saved log-sum-exp) and take dS
from here. Shape letters: B batch, H heads, Tq queries of the block, n keys, D head_dim.
"""

from __future__ import annotations

from torch import Tensor


def row_dots(d_out: Tensor, out: Tensor) -> Tensor:
    """rowsum(dO * O), (B, H, T, 1): the softmax backward's correction, once for every block."""
    return (d_out * out).sum(-1, keepdim=True)


def block_score_gradient(p: Tensor, d_out: Tensor, v: Tensor, dots: Tensor) -> Tensor:
    """dS of one block: ``p`` (B, H, Tq, n) its probabilities, ``d_out`` (B, H, Tq, D) its rows of dO,
    ``v`` (B, H, n, D) its keys' values, ``dots`` (B, H, Tq, 1) its rows of ``row_dots``. Returns
    (B, H, Tq, n), made in the buffer of dO Vᵀ (no second block-sized tensor)."""
    return (d_out @ v.transpose(-2, -1)).sub_(dots).mul_(p)


def shared_by_batch(d_scores: Tensor, bias_batch: int) -> Tensor:
    """A block's dS as its bias's gradient: summed over the batch when one bias serves every sequence."""
    return d_scores.sum(0, keepdim=True) if bias_batch == 1 else d_scores
