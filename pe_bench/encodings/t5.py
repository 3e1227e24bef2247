"""T5 relative position bias (Raffel et al. 2020).

A learned scalar per (bucket, head) is added to each attention logit; the bucket depends
on relative_position = key position - query position, exactly for small distances and
logarithmically up to ``max_distance``. The (num_buckets x heads) table is shared by all
layers.

Two departures from T5 itself, both documented here:
- pe-bench scales every logit by 1/sqrt(head_dim) before adding the bias (T5 does not
  scale); the bias itself is not scaled.
- the bias is looked up by distance rather than by bucket at run time: every distance at or
  beyond ``max_distance`` falls in the last bucket, so a vector over relative positions
  -max_distance .. +max_distance (bucket index precomputed once) holds every value the
  bias can take. A forward pass gathers the table into that vector once and shares it with
  all layers; a decoding step reads one row from it; flex_attention reads it inside the
  kernel, so the (heads x T x T) tensor is never built there.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from pe_bench.encodings.base import AttentionBias, Family, PositionalEncoding, ScoreMod


def relative_position_bucket(relative_position: Tensor, bidirectional: bool,
                             num_buckets: int = 32, max_distance: int = 128) -> Tensor:
    """T5's bucket for each relative position (key position - query position).

    Causal (``bidirectional=False``): distance = max(query - key, 0) uses all buckets.
    Bidirectional: half the buckets per sign; keys after the query get the upper half.
    Within a side of n buckets, distances below n/2 are their own bucket; larger ones are
    spaced logarithmically up to ``max_distance`` and clipped to the side's last bucket.
    Computed in float32, as T5 does.

    Returns:
        LongTensor of the same shape as ``relative_position``.
    """
    relative_position = relative_position.long()
    bucket = torch.zeros_like(relative_position)
    distance = -relative_position  # query - key: >= 0 for keys at or before the query
    if bidirectional:
        num_buckets //= 2
        bucket += (distance < 0).long() * num_buckets  # keys after the query
        distance = distance.abs()
    else:
        distance = distance.clamp(min=0)
    max_exact = num_buckets // 2
    is_small = distance < max_exact
    # log-spaced buckets for max_exact <= distance < max_distance; clamp avoids log(0)
    log_ratio = torch.log(distance.float().clamp(min=1) / max_exact) / math.log(max_distance / max_exact)
    large = max_exact + (log_ratio * (num_buckets - max_exact)).long()
    large = large.clamp(max=num_buckets - 1)
    return bucket + torch.where(is_small, distance, large)


class DistanceTableBias(AttentionBias):
    """bias[h, i, j] = values[h, clamp(k_pos[j] - q_pos[i], -D, D) + D]."""

    def __init__(self, values: Tensor, max_distance: int, far_from: int | None = None) -> None:
        self.values = values  # (H, 2D+1)
        self.max_distance = max_distance
        self.far_from = far_from  # every key this far or farther before its query has the same value

    def far_constant(self) -> tuple[Tensor, Tensor] | None:
        """Distances 0..W-1 read from the table, and the value at distance D and beyond."""
        if self.far_from is None:
            return None
        d = self.max_distance
        near = self.values[:, d - self.far_from + 1: d + 1].flip(-1)  # near[:, t] = values at distance t
        return near, self.values[:, 0]

    def _index(self, relative: Tensor) -> Tensor:
        return relative.clamp(-self.max_distance, self.max_distance) + self.max_distance

    def materialize(self, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        relative = k_pos[None, :] - q_pos[:, None]  # (Tq, S)
        return self.values[:, self._index(relative)]  # (H, Tq, S)

    def score_mod(self, q_pos: Tensor, k_pos: Tensor) -> ScoreMod:
        values, d = self.values, self.max_distance

        def add_bias(score: Tensor, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            relative = torch.clamp(k_pos[kv_idx] - q_pos[q_idx], -d, d)
            return score + values[h, relative + d]

        return add_bias


class T5Bias(PositionalEncoding):
    """Learned per-bucket, per-head scalars added to the attention logits."""

    name = "t5"
    family = Family.BIAS
    shift_invariant = True
    description = "learned scalar per (distance bucket, head) added to logits (Raffel et al. 2020)"

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True,
                 num_buckets: int = 32, max_distance: int = 128) -> None:
        super().__init__(d_model=d_model, n_heads=n_heads, max_len=max_len, causal=causal)
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.table = nn.Embedding(num_buckets, n_heads)  # the only parameters, shared by all layers
        nn.init.normal_(self.table.weight, std=0.02)
        relative = torch.arange(-max_distance, max_distance + 1)
        bucket = relative_position_bucket(relative, not causal, num_buckets, max_distance)
        self.register_buffer("bucket_index", bucket, persistent=False)  # (2D+1,)
        # the smallest distance from which every key before its query shares the last bucket
        same = (bucket[: max_distance + 1] == bucket[0]).int()  # distance D, D-1, .., 0
        self.far_from = int(max_distance + 1 - same.cumprod(0).sum())  # causal, 32 buckets, D 128: 113

    def attention_bias(self, dtype: torch.dtype) -> DistanceTableBias:
        values = self.table(self.bucket_index).T.to(dtype)  # (H, 2D+1)
        return DistanceTableBias(values, self.max_distance, self.far_from)
