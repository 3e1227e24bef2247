"""The bootstrap interval of a ratio of medians: covers the point estimate, seeded, honest about spread."""

import math

import numpy as np
import pytest

from pe_bench.bootstrap import ratio_interval


def test_interval_brackets_the_ratio_of_medians_and_is_reproducible():
    a, b = [2.0, 2.2, 2.1, 2.6, 1.9], [1.0, 1.1, 0.9, 1.05, 1.3]
    low, high = ratio_interval(a, b)
    point = np.median(a) / np.median(b)
    assert low <= point <= high and low < high
    assert ratio_interval(a, b) == (low, high)


def test_no_spread_gives_a_point_and_more_spread_a_wider_interval():
    assert ratio_interval([2.0] * 5, [1.0] * 5) == (2.0, 2.0)
    narrow = ratio_interval([2.0, 2.01, 1.99, 2.0, 2.0], [1.0] * 5)
    wide = ratio_interval([2.0, 2.5, 1.5, 2.0, 2.2], [1.0] * 5)
    assert wide[1] - wide[0] > narrow[1] - narrow[0]


def test_covers_the_true_ratio_about_as_often_as_claimed():
    rng = np.random.default_rng(1)
    hits = sum(lo <= 2.0 <= hi for lo, hi in (ratio_interval(rng.normal(2, 0.1, 15), rng.normal(1, 0.05, 15),
                                                            resamples=500, seed=i) for i in range(100)))
    assert 80 <= hits <= 100  # percentile bootstrap of medians, 15 samples: a little under 95%


def test_empty_sample_and_bad_confidence():
    assert all(math.isnan(x) for x in ratio_interval([], [1.0]))
    with pytest.raises(ValueError, match="confidence"):
        ratio_interval([1.0], [1.0], confidence=1.5)
