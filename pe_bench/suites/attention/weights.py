"""Attention weights written out a block of queries at a time, and what the attention suite measures on them.

``block_logits`` is the eager backend's formula (backends/eager.py), Q K^T / sqrt(D) + bias,
for the query rows of one block, so that a 16L context never holds more than a block's
(B, H, rows, S) scores; ``Totals`` adds up, per head, the four measurements of the suite over
the blocks of every window; ``MapGrid`` pools one head's full map onto a coarse grid. All pure
tensor code: no model, no I/O.

Shape letters: B batch (windows), H heads, R query rows of a block, S valid keys, D head_dim.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from pe_bench.backends.inputs import AttentionInputs

#: Gu et al. 2024's threshold: a head is a sink head when its mean weight on the first token exceeds it
SINK_THRESHOLD = 0.3
#: the tokens StreamingLLM keeps as sinks
SINKS = 4
#: the most scores one block may hold (B x H x R x S), about 64 MB in float32
BLOCK_SCORES = 1 << 24


def blocks(rows: Tensor, batch: int, heads: int, keys: int, budget: int = BLOCK_SCORES) -> Iterator[Tensor]:
    """``rows`` (query indices) in consecutive blocks of at most ``budget`` scores each (at least one row)."""
    size = max(1, budget // max(1, batch * heads * keys))
    yield from rows.split(size)


def block_logits(q: Tensor, k: Tensor, inputs: AttentionInputs, rows: Tensor) -> tuple[Tensor, Tensor | None]:
    """The scores of query ``rows`` against every valid key, bias included, before the mask: (B, H, R, S);
    and which keys each row may see, (R, S) bool, or None when it sees all of them."""
    n = inputs.kv_len
    k = k[..., :n, :]
    logits = q[..., rows, :] @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if inputs.bias is not None:
        bias = inputs.bias.materialize(inputs.q_pos[rows], inputs.k_pos[:n])
        if bias.shape[-2] != len(rows):  # a contextual bias (CoPE, FoX) comes for every query of the layer
            bias = bias[..., rows, :]
        logits = logits + bias.to(logits.dtype)
    allowed = inputs.allowed_matrix()
    return logits, None if allowed is None else allowed[rows]


def softmax_weights(logits: Tensor, allowed: Tensor | None) -> Tensor:
    """softmax over the keys each row may see; a masked key weighs exactly 0."""
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    return torch.softmax(logits, dim=-1)


def entropy(weights: Tensor) -> Tensor:
    """-sum p log p over the last dimension, in nats (0 log 0 = 0): log n for n equal weights."""
    return -torch.special.xlogy(weights, weights).sum(-1)


def distance_bin(distance: Tensor) -> Tensor:
    """Log-binned distance: bin 0 holds distance 0, bin b >= 1 the distances [2^(b-1), 2^b)."""
    _, exponent = torch.frexp(distance.clamp(min=1).to(torch.float64))  # d = m 2^e, m in [0.5, 1): e = bit length
    return torch.where(distance > 0, exponent.long(), 0)


def bin_start(b: int) -> int:
    """The smallest distance in bin ``b``."""
    return 0 if b == 0 else 2 ** (b - 1)


def n_bins(longest: int) -> int:
    """How many distance bins a context of ``longest`` tokens needs (distances 0 .. longest - 1)."""
    return int(distance_bin(torch.tensor(max(0, longest - 1)))) + 1


METRICS = ("entropy_mean", "entropy_std", "log_keys", "sink_first", f"sink_first{SINKS}", "max_weight", "within_L",
           "logit_mean_seen", "logit_std_seen", "logit_mean_unseen", "logit_std_unseen")


class Totals:
    """Per-head sums over the queries measured: what the suite's rows are means of.

    ``train_len`` splits keys into seen distances (< L, met in training) and unseen ones (>= L).
    """

    def __init__(self, heads: int, bins: int, train_len: int) -> None:
        self.train_len = train_len
        self.queries = 0
        self.sums = {name: torch.zeros(heads, dtype=torch.float64) for name in
                     ("entropy", "entropy_sq", "log_keys", "sink_first", "sink_first4", "max_weight", "within_L")}
        self.logits = {part: torch.zeros(3, heads, dtype=torch.float64) for part in ("seen", "unseen")}  # n, sum, sum²
        self.distance = torch.zeros(heads, bins, dtype=torch.float64)

    def add(self, weights: Tensor, logits: Tensor, allowed: Tensor | None, q_pos: Tensor, k_pos: Tensor) -> None:
        """One block: ``weights`` and ``logits`` (B, H, R, S) of queries at ``q_pos`` (R,), keys at ``k_pos`` (S,)."""
        p = weights.to(torch.float64)
        B, H, R, S = p.shape
        visible = torch.full((R,), S, device=p.device) if allowed is None else allowed.sum(-1)
        distance = q_pos[:, None] - k_pos[None, :]  # (R, S)
        h = entropy(p)  # (B, H, R)
        over = (0, 2)  # sum over windows and rows, per head
        self.sums["entropy"] += h.sum(over).cpu()
        self.sums["entropy_sq"] += (h * h).sum(over).cpu()
        self.sums["log_keys"] += float(torch.log(visible.to(torch.float64)).sum()) * B
        self.sums["sink_first"] += p[..., 0].sum(over).cpu()  # key slot 0 holds position 0
        self.sums["sink_first4"] += p[..., :SINKS].sum(-1).sum(over).cpu()
        self.sums["max_weight"] += p.amax(-1).sum(over).cpu()
        near = (distance >= 0) & (distance < self.train_len)
        self.sums["within_L"] += (p * near).sum(-1).sum(over).cpu()
        index = distance_bin(distance.clamp(min=0)).expand(B, H, R, S)
        binned = torch.zeros(B, H, R, self.distance.shape[1], dtype=torch.float64, device=p.device)
        self.distance += binned.scatter_add_(-1, index, p).sum(over).cpu()
        valid = torch.isfinite(logits) & (distance >= 0)
        if allowed is not None:
            valid = valid & allowed
        x = logits.to(torch.float64).masked_fill(~valid, 0)
        for part, where in (("seen", valid & near), ("unseen", valid & ~near)):
            counts = where.sum((0, 2, 3)).to(torch.float64)
            picked = x * where
            self.logits[part] += torch.stack([counts, picked.sum((0, 2, 3)), (picked * picked).sum((0, 2, 3))]).cpu()
        self.queries += B * R

    def means(self) -> dict[str, Tensor]:
        """Per head (H,): every metric of ``METRICS`` (NaN where nothing was measured), and ``distance`` (H, bins):
        the share of the weight at each distance bin."""
        n = max(self.queries, 1)
        mean = {name: total / n for name, total in self.sums.items()}
        out = {"entropy_mean": mean["entropy"],
               "entropy_std": (mean["entropy_sq"] - mean["entropy"] ** 2).clamp(min=0).sqrt(),
               "log_keys": mean["log_keys"], "sink_first": mean["sink_first"],
               f"sink_first{SINKS}": mean["sink_first4"],
               "max_weight": mean["max_weight"], "within_L": mean["within_L"]}
        for part, (count, total, square) in self.logits.items():
            m = total / count  # NaN where no key of this kind was measured (unseen at L)
            out[f"logit_mean_{part}"] = m
            out[f"logit_std_{part}"] = (square / count - m * m).clamp(min=0).sqrt()
        out["distance"] = self.distance / n
        return out


class MapGrid:
    """One head's full attention map of a ``length``-token window, pooled onto ``size`` x ``size`` cells:
    each cell the mean weight of the (query, key) pairs in it."""

    def __init__(self, length: int, size: int) -> None:
        self.length, self.size = length, min(size, length)
        cell = torch.arange(length) * self.size // length
        self.cell = cell
        counts = torch.zeros(self.size * self.size, dtype=torch.float64)
        self.counts = counts.index_add_(0, (cell[:, None] * self.size + cell[None, :]).flatten(),
                                        torch.ones(length * length, dtype=torch.float64))
        self.sums = torch.zeros(self.size * self.size, dtype=torch.float64)

    def add(self, weights: Tensor, rows: Tensor) -> None:
        """The weights (R, S = length) of query ``rows``."""
        index = self.cell[rows.cpu()][:, None] * self.size + self.cell[None, : weights.shape[-1]]
        self.sums.index_add_(0, index.flatten(), weights.detach().to(torch.float64).cpu().flatten())

    def grid(self) -> Tensor:
        """(size, size) mean weight per cell."""
        return (self.sums / self.counts).view(self.size, self.size)
