"""Statistics over seeds (pe_bench.stats) against values worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from pe_bench.stats import ONE_SEED, aggregate, interval, paired

#: Student's t, 97.5th percentile, from a printed table (df 2 and 3): an independent reference for scipy
T_2, T_3 = 4.303, 3.182


def test_an_interval_by_hand():
    result = interval([1.0, 2.0, 3.0])  # mean 2, sd 1, half-width t(0.975, 2) * 1 / sqrt(3)
    assert (result.mean, result.sd, result.n, result.reason) == (2.0, 1.0, 3, "")
    assert result.half_width == pytest.approx(T_2 / math.sqrt(3), abs=1e-3)
    assert (result.low, result.high) == pytest.approx((2.0 - result.half_width, 2.0 + result.half_width))


def test_nan_values_are_left_out():
    assert interval([4.0, math.nan, 6.0]).n == 2


def test_one_seed_has_no_interval_and_says_so():
    result = interval([5.0])
    assert result.mean == 5.0 and result.n == 1
    assert math.isnan(result.half_width) and math.isnan(result.sd)
    assert result.reason == ONE_SEED == "1 seed, no interval"
    assert paired([1.0], [2.0]).p_value != paired([1.0], [2.0]).p_value  # NaN: no test
    assert not paired([1.0], [2.0]).significant


def test_aggregate_by_hand():
    df = pd.DataFrame({"encoding": ["rope"] * 4 + ["alibi"], "eval_len": [16, 16, 32, 32, 16],
                       "seed": [0, 1, 0, 1, 0], "value": [5.0, 7.0, 10.0, 10.0, 6.0]})
    stats = aggregate(df, ["encoding", "eval_len"]).set_index(["encoding", "eval_len"])
    rope16, rope32, alibi16 = stats.loc[("rope", 16)], stats.loc[("rope", 32)], stats.loc[("alibi", 16)]
    # rope at 16: mean 6, sd sqrt(2), half-width t(0.975, 1) * sqrt(2) / sqrt(2) = 12.706
    assert (rope16["mean"], rope16["n"]) == (6.0, 2) and rope16["sd"] == pytest.approx(math.sqrt(2))
    assert rope16["ci95"] == pytest.approx(12.706, abs=1e-3)
    assert (rope32["mean"], rope32["sd"], rope32["ci95"]) == (10.0, 0.0, 0.0)
    assert alibi16["n"] == 1 and math.isnan(alibi16["ci95"]) and alibi16["reason"] == ONE_SEED
    assert list(stats.index) == [("rope", 16), ("rope", 32), ("alibi", 16)]  # first appearance order


def test_paired_difference_by_hand():
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 2.5, 4.5, 5.0]  # differences 1, 0.5, 1.5, 1: mean 1, sd sqrt(1/6)
    result = paired(a, b)
    assert result.difference.mean == pytest.approx(1.0)
    assert result.difference.half_width == pytest.approx(T_3 * math.sqrt(1 / 6) / 2, abs=1e-3)
    t = 1.0 / (math.sqrt(1 / 6) / 2)  # 4.899 with 3 degrees of freedom: p = 0.0163 (two-sided)
    assert t == pytest.approx(4.899, abs=1e-3)
    assert result.p_value == pytest.approx(0.0163, abs=5e-4) and result.significant


def test_far_apart_is_significant_and_overlapping_is_not():
    far = paired([5.0, 5.1, 4.9], [8.0, 8.2, 7.9])  # 3 apart, spread 0.1
    close = paired([5.0, 5.4, 4.6], [5.1, 5.0, 4.9])  # 0.0 apart on average, spread 0.4
    assert far.significant and far.p_value < 0.01
    assert not close.significant and close.p_value > 0.5


def test_identical_differences_are_certain_and_zero_differences_are_not():
    assert paired([1.0, 2.0], [3.0, 4.0]).p_value == 0.0
    assert paired([1.0, 2.0], [1.0, 2.0]).p_value == 1.0


def test_unpaired_lengths_are_a_programming_error():
    with pytest.raises(ValueError, match="same seeds"):
        paired([1.0, 2.0], [1.0])
