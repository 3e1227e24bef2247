"""FoX, the Forgetting Transformer (Lin et al. 2025, "Forgetting Transformer: Softmax Attention with a
Forget Gate"): no positional encoding, a forget gate in every head of every layer instead.

Per layer and head h, each token t has a gate f_t = sigmoid(w_h . x_t + b_h) from the layer's
input x_t, and the logit of query i on key j <= i gains

    D_ij = sum_{t=j+1..i} log f_t = c_i - c_j,   c_t = sum_{s<=t} log f_s,

so a key's weight decays by the product of the gates between it and the query — a learned,
data-dependent ALiBi. The bias is separable, so on SDPA it folds into one extra key column,
-c_j (c_i is the same for every key of query i, which softmax ignores): the fused causal kernel
runs with no mask, as ALiBi's fold (fold.py). The KV cache keeps c_j beside each key, one number
per head per token, and a step adds the new tokens' log gates to the newest cached c. Positions
play no part, so FoX is shift-invariant; its gates see the tokens, so caches that slide keep it
exact (the evicted tokens' gates stay in the c of the tokens after them).

The gate is ``nn.Linear(d_model, n_heads)``, weights N(0, 0.02) and bias ``bias_init`` (0: f is
about 1/2 at the start, as in the paper's default). With ``decay_time_max`` T > 2 the heads start
instead at decay times 1 / (1 - f) spread geometrically from 2 to T: bias_h = log(tau_h - 1), so one
head starts at f = 1/2 and another reaches T tokens back. This is pe-bench's own variant (the paper's
code spreads decay times over heads for its fixed gates, defined as -1 / log f). At f = 1/2 everywhere
a key 100 tokens back weighs e^-69 at the start, so next to no gradient reaches the gates through it;
on passkey the trained gates stayed closed (docs/tasks.md). Precision: c grows with the length (about
-0.7 a token at f = 1/2), so at 10^5 tokens float32 holds it to about 1e-3.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pe_bench.encodings.base import AttentionBias, Family, LayerContext, PositionalEncoding, ScoreMod
from pe_bench.errors import InputError


class ForgetBias(AttentionBias):
    """c_i - c_j for query i and key j: ``c_q`` (B, H, Tq), ``c_k`` (B, H, S) of one layer."""

    def __init__(self, c_q: Tensor, c_k: Tensor) -> None:
        self.c_q, self.c_k = c_q, c_k

    def materialize(self, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        S = k_pos.shape[0]
        return self.c_q[..., :, None] - self.c_k[..., None, :S]  # (B, H, Tq, S)

    def score_mod(self, q_pos: Tensor, k_pos: Tensor) -> ScoreMod:
        c_q, c_k = self.c_q, F.pad(self.c_k, (0, k_pos.shape[0] - self.c_k.shape[-1]))  # a cache's every slot
        return lambda score, b, h, q_idx, kv_idx: score + c_q[b, h, q_idx] - c_k[b, h, kv_idx]

    def causal_fold(self, q_pos: Tensor, k_pos: Tensor) -> tuple[Tensor, Tensor]:
        ones = torch.ones(1, 1, 1, dtype=self.c_k.dtype, device=self.c_k.device)  # (1, 1, 1): every query, head
        return ones, -self.c_k[..., : k_pos.shape[0], None]  # (B, H, S, 1)


class ForgetGate(LayerContext):
    """One layer's forget gates: log f (B, H, T) from the layer's input, summed into c."""

    state_size = 1  # c_j, per head, beside every cached key

    def __init__(self, d_model: int, n_heads: int, initial_bias: Tensor) -> None:
        super().__init__()
        self.gate = nn.Linear(d_model, n_heads)
        nn.init.normal_(self.gate.weight, std=0.02)
        with torch.no_grad():
            self.gate.bias.copy_(initial_bias)  # (n_heads,): FoX.initial_biases

    def bias(self, x: Tensor, q: Tensor, k: Tensor, k_pos: Tensor, visible: Tensor | None, state: Any) -> ForgetBias:
        c = F.logsigmoid(self.gate(x)).transpose(1, 2).cumsum(-1)  # (B, H, T)
        if state is None:
            return ForgetBias(c, c)
        previous = state.previous()  # (B, H, 1): the newest cached token's c
        if previous is not None:
            c = c + previous
        return ForgetBias(c, state.write(c[..., None])[..., 0])  # keys: every slot's c, this step's written


class FoX(PositionalEncoding):
    """Forgetting attention: a learned forget gate per head in each layer, no other positional signal."""

    name = "fox"
    family = Family.CONTEXTUAL
    shift_invariant = True
    causal_only = True  # the decay runs from each key forward to its query
    description = ("forget gate per head, logit += sum of log f_t between key and query (FoX, Lin et al. "
                   "2025); folded into one key column")
    #: f about 0.95: at 1/2 a key a few tokens back weighs nothing, and evicting it would not show
    check_options = {"bias_init": 3.0}

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True,
                 bias_init: float = 0.0, decay_time_max: float = 0.0) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal)
        if decay_time_max and not (math.isfinite(decay_time_max) and decay_time_max > 2):
            raise InputError(f"fox's decay_time_max is the longest decay time its heads start at, a finite number "
                             f"above 2 (f = 1/2); got {decay_time_max!r}")
        self.bias_init = float(bias_init)
        self.decay_time_max = float(decay_time_max)

    def layer_context(self) -> ForgetGate:
        return ForgetGate(self.d_model, self.n_heads, self.initial_biases())

    def initial_biases(self) -> Tensor:
        """Each head's gate bias at the start: ``bias_init``, or, when ``decay_time_max`` is given (it replaces
        ``bias_init``, which ``pe-bench check`` sets for FoX), log(tau - 1) for decay times tau spread
        geometrically over [2, decay_time_max]."""
        if not self.decay_time_max:
            return torch.full((self.n_heads,), self.bias_init)
        return decay_time_biases(self.n_heads, self.decay_time_max)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, bias_init={self.bias_init}, decay_time_max={self.decay_time_max}"


def decay_time_biases(n_heads: int, longest: float) -> Tensor:
    """Gate biases whose gates f = sigmoid(b) have decay times 1 / (1 - f) = 2 ... ``longest``, geometric over heads
    (a single head starts at ``longest``)."""
    if n_heads == 1:
        return torch.tensor([math.log(longest - 1)])
    tau = torch.logspace(math.log10(2.0), math.log10(longest), n_heads, dtype=torch.float64)
    return torch.log(tau - 1).float()
