"""FIRE, functional interpolation for relative positions (Li et al. 2023).

The logit of query i and key j gets, in head h,

    b_h(i, j) = f(psi(i - j) / psi(max(L, i))),   psi(x) = log(c*x + 1),

where f is an MLP 1 -> 32 -> H (ReLU hidden layer, one output per head) and c and L are
learned; one set of parameters serves all layers, as T5's table does. The division maps
every distance a query can see into [0, 1], so a query past the training length still
feeds the MLP inputs from the range it was trained on. The bias is not multiplied by
1/sqrt(head_dim). The MLP's output layer has no bias: a per-head constant added to a whole
row of logits cancels in the softmax, so it could never learn (its gradient is zero up to
round-off).

Up to the threshold L the normalizer is the constant psi(L), so the bias is a function of
i - j alone; past L it is psi(i) and depends on the query's own position: FIRE is not
shift-invariant (``shift_invariant = False``). It is defined for causal attention only
(i - j >= 0 for every key a query sees), so ``causal_only = True``; the keys after a query,
which the mask removes, are given distance 0 so that the dense tensor stays finite.

Parametrization, as in the paper's reference code:

- c is used as |c| (the paper writes log(|c*x| + 1)): stored as 0.1, it starts at exactly 0.1
  and stays non-negative whatever the optimizer does to it.
- L = max(|m| * L0, 1): L0 is the initial threshold, a buffer (the constructor's
  ``max_len``, which the extrapolation suite sets to the training length, unless
  ``threshold`` gives another), and m a learned multiplier starting at 1, so that L moves
  by steps proportional to its size. The clamp keeps L >= 1.
- The denominator is psi(max(L, i)) + 1e-6, as in that code: the ratio stays finite
  even if c reaches 0.

Positions are converted to float32 (exact up to 2^24) and the bias is computed in float32
whatever the model's dtype, then cast.

Cost. ``materialize`` runs the MLP once per distance for the query rows below L, whose bias
depends on the distance alone (an (H, D) table gathered into (H, Tq, S), as T5's): training
at T <= L costs about what T5 costs, and the result is the same as entry by entry. Rows at
or past L (extrapolation) take one MLP evaluation per entry, summed one hidden unit at a
time, so the (Tq, S, 32) hidden tensor never exists: without gradients the peak is a few
(H, Tq, S) tensors; with gradients autograd keeps each unit's activation for the backward
pass, 32 * Tq * S floats (128 MiB at Tq = S = 1024). Deciding which rows are below L reads
L and the largest distance on the host (one device sync per forward pass). ``score_mod``
computes every entry inside the kernel (32 hidden units per logit) and builds no tensor.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from pe_bench.encodings.base import AttentionBias, Family, PositionalEncoding, ScoreMod

C_INIT = 0.1  # the paper's initial c
EPS = 1e-6  # added to the normalizer psi(max(L, i)), as in the paper's code
MIN_THRESHOLD = 1.0  # L is clamped at this
MLP_WIDTH = 32  # the paper's hidden width


def _wide(t: Tensor) -> Tensor:
    """``t`` in float32, or float64 if it already is: the bias is never computed in 16 bits."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


class FireMLP(NamedTuple):
    """The MLP's weights: hidden layer (W,), (W,); output layer (H, W), no bias (see FIRE).

    ``score_mod`` passes one head's output row instead: ``w_out`` of shape (W,).
    """

    w_in: Tensor
    b_in: Tensor
    w_out: Tensor


def fire_bias(distance: Tensor, query_pos: Tensor, c: Tensor, threshold: Tensor, mlp: FireMLP,
              eps: float = EPS) -> Tensor:
    """f(psi(distance) / psi(max(threshold, query_pos))), one value per head.

    Args:
        distance: i - j, any shape, >= 0 (integers or floats).
        query_pos: i, broadcastable against ``distance``.
        c: the scale c (0-d, >= 0); threshold: L (0-d, >= 1).
        mlp: the MLP's weights; all heads' (``w_out`` (H, W)) or one head's (``w_out`` (W,)).

    Returns:
        (H, *shape) for the whole MLP; the broadcast shape of ``distance`` and
        ``query_pos`` alone when ``mlp`` holds one head's output row (inside a score_mod).

    The hidden layer is summed one unit at a time, all elementwise, so the same code runs
    on a dense grid, under vmap (uncompiled flex) and inside a compiled flex kernel, and
    never holds the (..., W) hidden tensor at once.
    """
    dtype = c.dtype
    ratio = torch.log1p(c * distance.to(dtype)) / (
        torch.log1p(c * torch.maximum(threshold, query_pos.to(dtype))) + eps)
    all_heads = mlp.w_out.dim() == 2

    def per_head(t: Tensor) -> Tensor:  # (H,) -> (H, 1, ...) against ratio; () stays ()
        return t.reshape(t.shape + (1,) * ratio.dim()) if all_heads else t

    out = torch.zeros((), dtype=dtype, device=ratio.device)
    for k in range(mlp.w_in.shape[0]):
        out = out + per_head(mlp.w_out[..., k]) * torch.relu(ratio * mlp.w_in[k] + mlp.b_in[k])
    return out


class FireBias(AttentionBias):
    """bias[h, i, j] = fire_bias(max(q_pos[i] - k_pos[j], 0), q_pos[i], c, L, mlp)[h]."""

    def __init__(self, c: Tensor, threshold: Tensor, mlp: FireMLP, dtype: torch.dtype) -> None:
        self.c, self.threshold, self.mlp = c, threshold, mlp  # float32 (or wider), possibly requiring grad
        self.dtype = dtype  # of the result

    def materialize(self, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        distance = (q_pos[:, None] - k_pos[None, :]).clamp(min=0)  # (Tq, S); keys after the query: 0
        near = q_pos < self.threshold  # (Tq,) rows normalized by psi(L): a function of distance alone
        if bool(near.all()):
            return self._table(distance).to(self.dtype)
        if not bool(near.any()):
            return fire_bias(distance, q_pos[:, None], self.c, self.threshold, self.mlp).to(self.dtype)
        bias = torch.empty((self.mlp.w_out.shape[0], *distance.shape), dtype=self.c.dtype, device=distance.device)
        bias[:, near] = self._table(distance[near])
        far = ~near
        bias[:, far] = fire_bias(distance[far], q_pos[far, None], self.c, self.threshold, self.mlp)
        return bias.to(self.dtype)

    def _table(self, distance: Tensor) -> Tensor:
        """(H, *distance.shape) for query rows below L: the MLP once per distance, then a gather."""
        distances = torch.arange(int(distance.max()) + 1, device=distance.device)  # (D,)
        table = fire_bias(distances, distances.new_zeros(()), self.c, self.threshold, self.mlp)  # (H, D)
        return table[:, distance]

    def score_mod(self, q_pos: Tensor, k_pos: Tensor) -> ScoreMod:
        c, threshold, (w_in, b_in, w_out) = self.c, self.threshold, self.mlp

        def add_bias(score: Tensor, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            i = q_pos[q_idx]
            distance = torch.clamp(i - k_pos[kv_idx], min=0)
            head = FireMLP(w_in, b_in, w_out[h])
            return score + fire_bias(distance, i, c, threshold, head).to(score.dtype)

        return add_bias


class FIRE(PositionalEncoding):
    """A learned function of the distance normalized by the query's position, one output per head.

    Args:
        threshold: the initial L; default ``max_len`` (the training length).
        mlp_width: hidden units of the MLP (the paper: 32).
    """

    name = "fire"
    family = Family.BIAS
    shift_invariant = False  # past L the normalizer psi(i) depends on the query's position
    causal_only = True
    description = ("learned MLP of log-distance normalized by the query's position "
                   "(FIRE, Li et al. 2023, functional interpolation for relative positions)")
    # tests build it with a small L, so their short sequences run past it, where FIRE is not shift-invariant
    check_options = {"threshold": 4}

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True,
                 threshold: float | None = None, mlp_width: int = MLP_WIDTH) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal)
        initial = float(max_len if threshold is None else threshold)
        if initial < MIN_THRESHOLD:
            raise ValueError(f"threshold must be >= {MIN_THRESHOLD}, got {initial}")
        # shared by all layers; the Linear layers draw their initial weights from torch's RNG
        # no output bias: it would cancel in the softmax (module docstring)
        self.mlp = nn.Sequential(nn.Linear(1, mlp_width), nn.ReLU(), nn.Linear(mlp_width, n_heads, bias=False))
        self.c = nn.Parameter(torch.tensor(C_INIT))  # used as |c|
        self.L_multiplier = nn.Parameter(torch.tensor(1.0))  # L = max(|m| * L0, 1)
        self.register_buffer("initial_threshold", torch.tensor(initial))  # L0, saved with the weights

    def c_value(self) -> Tensor:
        """c as used, |c|: 0-d, float32 (or float64 in a float64 model)."""
        return _wide(self.c).abs()

    def threshold(self) -> Tensor:
        """L as used, max(|m| * L0, 1): 0-d, float32 (or float64)."""
        return (_wide(self.L_multiplier) * _wide(self.initial_threshold)).abs().clamp(min=MIN_THRESHOLD)

    def mlp_weights(self) -> FireMLP:
        """The MLP's weights, float32 (or float64): hidden (W,), (W,); output (H, W)."""
        hidden, out = self.mlp[0], self.mlp[2]
        return FireMLP(*(_wide(t) for t in (hidden.weight[:, 0], hidden.bias, out.weight)))

    def attention_bias(self, dtype: torch.dtype) -> FireBias:
        return FireBias(self.c_value(), self.threshold(), self.mlp_weights(), dtype)
