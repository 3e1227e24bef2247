"""A bootstrap confidence interval for the ratio of two timings' medians.

Timing samples are few (5 repeats) and skewed (a slow outlier now and then), so no normal
approximation is assumed: both samples are resampled with replacement, independently, the
ratio of the resampled medians is taken each time, and the interval is the percentile
interval of those ratios. Seeded, so the same samples always give the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 4000


def ratio_interval(numerator: Sequence[float], denominator: Sequence[float], *, confidence: float = CONFIDENCE,
                   resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of median(numerator) / median(denominator).

    Returns (low, high); (NaN, NaN) when either sample is empty. A sample of one value is
    resampled as itself (its interval is only the other side's spread).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    a, b = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    if not len(a) or not len(b):
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    top = np.median(a[rng.integers(0, len(a), size=(resamples, len(a)))], axis=1)
    bottom = np.median(b[rng.integers(0, len(b), size=(resamples, len(b)))], axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(top / bottom, [tail, 1 - tail])
    return float(low), float(high)
