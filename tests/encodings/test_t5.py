import math

import pytest
import torch

from pe_bench.encodings.t5 import T5Bias, relative_position_bucket

# T5 bucket boundaries worked out by hand from the formula, causal, 32 buckets, max_distance 128:
# bucket -> (first distance, last distance)
CAUSAL_RANGES = {16: (16, 18), 17: (19, 20), 18: (21, 23), 19: (24, 26), 20: (27, 30), 21: (31, 34),
                 22: (35, 39), 23: (40, 45), 24: (46, 51), 25: (52, 58), 26: (59, 66), 27: (67, 76),
                 28: (77, 86), 29: (87, 98), 30: (99, 112), 31: (113, 1000)}
# bidirectional, key at or before the query
BIDIRECTIONAL_RANGES = {8: (8, 11), 9: (12, 15), 10: (16, 22), 11: (23, 31), 12: (32, 45), 13: (46, 63),
                        14: (64, 90), 15: (91, 1000)}


def buckets_for_distances(distances, bidirectional, sign=-1):
    rel = torch.tensor([sign * d for d in distances])  # key - query = -distance for past keys
    return relative_position_bucket(rel, bidirectional).tolist()


def test_causal_worked_boundaries():
    assert buckets_for_distances(range(16), False) == list(range(16))
    for bucket, (lo, hi) in CAUSAL_RANGES.items():
        assert set(buckets_for_distances(range(lo, hi + 1), False)) == {bucket}


def test_bidirectional_worked_boundaries_both_sides():
    assert buckets_for_distances(range(8), True) == list(range(8))
    assert buckets_for_distances(range(1, 8), True, sign=+1) == [16 + d for d in range(1, 8)]
    for bucket, (lo, hi) in BIDIRECTIONAL_RANGES.items():
        assert set(buckets_for_distances(range(lo, hi + 1), True)) == {bucket}
        assert set(buckets_for_distances(range(lo, hi + 1), True, sign=+1)) == {bucket + 16}


def reference_bucket(rel: int, bidirectional: bool, num_buckets: int, max_distance: int) -> int:
    """T5's rule written for one scalar."""
    n, ret = -rel, 0
    if bidirectional:
        num_buckets //= 2
        ret = num_buckets if n < 0 else 0
        n = abs(n)
    else:
        n = max(n, 0)
    max_exact = num_buckets // 2
    if n < max_exact:
        return ret + n
    large = max_exact + int(math.log(n / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact))
    return ret + min(large, num_buckets - 1)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_buckets,max_distance", [(32, 128), (16, 64), (64, 512)])
def test_matches_scalar_reference(bidirectional, num_buckets, max_distance):
    rel = torch.arange(-3 * max_distance, 3 * max_distance)
    got = relative_position_bucket(rel, bidirectional, num_buckets, max_distance).tolist()
    assert got == [reference_bucket(r, bidirectional, num_buckets, max_distance) for r in rel.tolist()]


def test_monotone_and_saturating():
    distances = torch.arange(0, 5000)
    buckets = relative_position_bucket(-distances, bidirectional=False)
    assert (buckets[1:] >= buckets[:-1]).all()
    assert buckets[-1] == 31 and buckets.max() == 31
    assert (buckets[128:] == 31).all()


def test_bias_is_shared_table_lookup_by_distance():
    enc = T5Bias(d_model=32, n_heads=4, max_len=64)
    bias = enc.attention_bias(torch.float32)
    q_pos, k_pos = torch.tensor([5, 300]), torch.tensor([0, 1, 5, 200, 299])
    dense = bias.materialize(q_pos, k_pos)  # (H, 2, 5)
    rel = k_pos[None, :] - q_pos[:, None]
    expected = enc.table.weight[relative_position_bucket(rel, bidirectional=False)].permute(2, 0, 1)
    assert torch.allclose(dense, expected)
