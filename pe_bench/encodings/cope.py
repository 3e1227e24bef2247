"""CoPE, contextual position encoding (Golovneva et al. 2024, "Contextual Position Encoding: Learning to
Count What's Important"): positions counted by gates the tokens themselves open.

In each layer and head, query i gives every visible key t a gate g_it = sigmoid(q_i . k_t / sqrt(d)),
and key j's position from query i is the number of open gates between them,

    p_ij = sum_{t=j..i} g_it,   clamped to npos - 1,

a real number. A learned table e[0..npos-1] (one per layer, shared by its heads, d-dimensional)
gives integer positions a logit z_i[p] = q_i . e[p]; the fractional p_ij interpolates between
z_i[floor p] and z_i[ceil p], and that is added to the logit of (i, j). With every gate open
p_ij = i - j + 1 (counting tokens, a relative encoding); with gates that open on, say, sentence
ends it counts sentences.

The positions depend on every query-key pair, so nothing folds or splits: the bias is a dense
(B, H, Tq, S) tensor, on eager and SDPA (as a float mask) alike, and flex reads it entry by entry.
Cached decoding is exact: the cache keeps raw keys as NoPE's does, and a step recomputes the new
query's gates over every cached key (O(S) per head; the kvcache suite measures the step). A ring
cache's keys are not in time order, so the gates are summed in the order of their positions.
Positions otherwise play no part: CoPE is shift-invariant.

The table starts at zero, as in the paper (``init_std`` 0; the check starts it random so that
the bias is not zero). ``npos`` (default 64) bounds the positions that can be told apart.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pe_bench.encodings.base import AttentionBias, Family, LayerContext, PositionalEncoding, ScoreMod
from pe_bench.errors import InputError

DEFAULT_NPOS = 64


def cope_positions(gates: Tensor, k_pos: Tensor | None = None) -> Tensor:
    """p_ij = sum of gates[i, t] over the keys t from j up to the query, (..., Tq, S).

    ``gates`` are zero where a key is not visible (after the query, outside a window). The keys are
    summed in the order of ``k_pos`` (default: the order given).
    """
    if k_pos is None or bool((k_pos[1:] >= k_pos[:-1]).all()):
        return gates.flip(-1).cumsum(-1).flip(-1)
    order = torch.argsort(k_pos, stable=True)
    counted = gates[..., order].flip(-1).cumsum(-1).flip(-1)
    return torch.empty_like(counted).index_copy_(-1, order, counted)  # back to the keys' own slots


def interpolate(z: Tensor, positions: Tensor) -> Tensor:
    """z (..., Tq, npos) read at real positions (..., Tq, S): linear between the two integers around each."""
    low = positions.floor()
    w = positions - low
    low = low.long()
    high = positions.ceil().long()
    return z.gather(-1, high) * w + z.gather(-1, low) * (1 - w)


def cope_bias(q: Tensor, k: Tensor, table: Tensor, visible: Tensor | None, k_pos: Tensor | None = None) -> Tensor:
    """CoPE's bias (B, H, Tq, S) for queries q (B, H, Tq, D), keys k (B, H, S, D), table (npos, D)."""
    gates = torch.sigmoid(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]))
    if visible is not None:
        gates = gates.masked_fill(~visible, 0.0)
    positions = cope_positions(gates, k_pos).clamp(max=table.shape[0] - 1)
    return interpolate(q @ table.T, positions)  # z (B, H, Tq, npos)


class DenseBias(AttentionBias):
    """A bias computed whole, (B, H, Tq, S): materialized as it is, read entry by entry by flex."""

    def __init__(self, values: Tensor) -> None:
        self.values = values

    def materialize(self, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        return self.values[..., : k_pos.shape[0]]

    def score_mod(self, q_pos: Tensor, k_pos: Tensor) -> ScoreMod:
        values = F.pad(self.values, (0, k_pos.shape[0] - self.values.shape[-1]))  # a cache's every slot
        return lambda score, b, h, q_idx, kv_idx: score + values[b, h, q_idx, kv_idx]


class CountingTable(LayerContext):
    """One layer's CoPE: the table e (npos, D), and the gates computed from this layer's q and k."""

    def __init__(self, head_dim: int, npos: int, init_std: float) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(npos, head_dim) * init_std)

    def bias(self, x: Tensor, q: Tensor, k: Tensor, k_pos: Tensor, visible: Tensor | None, state: Any) -> DenseBias:
        return DenseBias(cope_bias(q, k, self.table.to(q.dtype), visible, k_pos))


class CoPE(PositionalEncoding):
    """Contextual positions: gated counts of the keys between key and query, a learned table per layer."""

    name = "cope"
    family = Family.CONTEXTUAL
    shift_invariant = True
    causal_only = True  # the count runs from each key up to its query
    caches_transformed_keys = True  # keys are cached as they are: CoPE transforms nothing
    description = ("gated count of keys between key and query, p_ij = sum sigmoid(q_i.k_t), a learned table "
                   "interpolated at p (CoPE, Golovneva et al. 2024)")
    check_options = {"init_std": 1.0}  # a zero table adds nothing, and every cache would look exact

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True, npos: int = DEFAULT_NPOS,
                 init_std: float = 0.0) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal)
        if not isinstance(npos, int) or isinstance(npos, bool) or npos < 2:
            raise InputError(f"cope's npos is the number of positions its table holds, an integer >= 2; got {npos!r}")
        self.npos, self.init_std = npos, float(init_std)

    def layer_context(self) -> CountingTable:
        return CountingTable(self.head_dim, self.npos, self.init_std)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, npos={self.npos}"
