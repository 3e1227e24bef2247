"""Statistics over seeds, as pure functions: a mean with its 95 % interval, and a paired comparison.

A trained result depends on its seed (the initial weights and the order of the batches), so a
training suite runs several seeds and reports, for every metric:

- ``interval``: the mean, the sample standard deviation (ddof 1), n, and the half-width of
  the 95 % confidence interval of the mean by Student's t with n - 1 degrees of freedom
  (``scipy.stats.t.ppf``), so the interval is mean ± half-width;
- ``paired``: two encodings measured on the same seeds differ by d_s = b_s - a_s for each
  seed s; the mean of d with its 95 % interval, and the two-sided p-value of the paired t-test
  (``scipy.stats.ttest_rel``). Pairing removes what both share through the seed (the batch
  order), so it sees smaller differences than comparing two intervals would.

One seed has no spread: its interval and p-value are NaN and ``reason`` says "1 seed, no
interval". A difference is called real when its p-value is below ``ALPHA``; otherwise it is
within the noise of the seeds run — which says nothing about whether more seeds would find it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
ONE_SEED = "1 seed, no interval"
NO_VALUES = "no values"


@dataclass(frozen=True)
class Interval:
    """The mean of n values and its confidence interval, mean ± half_width; NaN where n < 2 (see reason)."""

    mean: float
    sd: float
    n: int
    half_width: float
    reason: str = ""  # why there is no interval, or ""

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


@dataclass(frozen=True)
class Comparison:
    """b - a over paired seeds: the mean difference, its interval, the paired t-test's p-value."""

    difference: Interval
    p_value: float

    @property
    def significant(self) -> bool:
        """True when the paired t-test rejects "no difference" at ``ALPHA`` (False with one seed)."""
        return not math.isnan(self.p_value) and self.p_value < ALPHA


def _finite(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


def interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean, sample sd, n and the Student-t half-width of ``values`` (NaN and inf left out)."""
    x = _finite(values)
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, 0, math.nan, NO_VALUES)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, math.nan, 1, math.nan, ONE_SEED)
    sd = float(x.std(ddof=1))
    half = float(scipy_stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, sd, n, half)


def paired(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Comparison:
    """``b - a`` seed by seed (``a[i]`` and ``b[i]`` share a seed); pairs with a NaN are left out.

    When every difference is the same non-zero number the t statistic is infinite and the
    difference is certain at these seeds (p = 0); when every difference is zero, p = 1.
    """
    a_values, b_values = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a_values.shape != b_values.shape:
        raise ValueError(f"paired values need the same seeds: {a_values.shape} vs {b_values.shape}")
    keep = np.isfinite(a_values) & np.isfinite(b_values)
    a_values, b_values = a_values[keep], b_values[keep]
    difference = interval(b_values - a_values, confidence)
    if difference.n < 2:
        return Comparison(difference, math.nan)
    if difference.sd == 0:
        return Comparison(difference, 1.0 if difference.mean == 0 else 0.0)
    return Comparison(difference, float(scipy_stats.ttest_rel(b_values, a_values).pvalue))


def aggregate(df: pd.DataFrame, by: Sequence[str], value: str = "value") -> pd.DataFrame:
    """One row per group of ``by``: the group's ``by`` values, then mean, sd, n, ci95 (the half-width)
    and reason, over the rows of the group (one per seed). Groups keep their first appearance's order."""
    rows = []
    for key, group in df.groupby(list(by), sort=False, dropna=False):
        result = interval(group[value].to_numpy())
        rows.append({**dict(zip(by, key)), "mean": result.mean, "sd": result.sd, "n": result.n,
                     "ci95": result.half_width, "reason": result.reason})
    return pd.DataFrame(rows, columns=[*by, "mean", "sd", "n", "ci95", "reason"])
