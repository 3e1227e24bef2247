"""When a timing is noise: a speed row whose spread makes its ratio to NoPE meaningless.

Under load a tiny speed run once wrote NoPE's eager inference at 295.9 ms ("391x"), with a
ratio interval from 0.0045 to 491 on 3 repeats and an IQR larger than the median, and said
nothing (issue 26). ``is_noisy`` is the rule, a pure function of a row's numbers; the speed
suite stores its answer in the table's ``noisy`` column and every table, summary and figure
that shows the ratio marks such a row. Here, outside the suite's package, because the
figures (pe_bench/suites/speed/figures.py) use it too.

On the committed results (5 repeats, a quiet machine) no row is noisy: their IQR is at most
0.48 x the median and their interval at most a factor 3.5 wide.
"""

from __future__ import annotations

import math

import pandas as pd

#: a row is noisy when the middle half of its timings (IQR) spans more than this share of its median ...
MAX_SPREAD = 0.5
#: ... or when its ratio's 95% interval spans more than this factor (high / low): 4 cannot tell a
#: 2x slow-down from a 2x speed-up
MAX_INTERVAL_FACTOR = 4.0


def is_noisy(ms_median: float, ms_iqr: float, ratio_ci_low: float = math.nan,
             ratio_ci_high: float = math.nan) -> bool:
    """True when a timed row's spread makes its ratio to NoPE meaningless.

    Noisy means ``ms_iqr / ms_median > MAX_SPREAD`` (the row's own repeats disagree) or
    ``ratio_ci_high / ratio_ci_low > MAX_INTERVAL_FACTOR`` (its repeats or NoPE's do: the
    interval cannot say whether the encoding is faster or slower). A value that was not
    measured (NaN) is no evidence either way; a row with no usable median is not noisy.
    Pure: the same numbers give the same answer, whatever the table around them.
    """
    values = [ms_median, ms_iqr, ratio_ci_low, ratio_ci_high]
    try:
        median, iqr, low, high = (float(v) for v in values)
    except (TypeError, ValueError):
        return False
    if not (median > 0):  # NaN, zero or negative: nothing was timed
        return False
    if iqr == iqr and iqr / median > MAX_SPREAD:
        return True
    if low == low and high == high:
        return low <= 0 < high or (low > 0 and high / low > MAX_INTERVAL_FACTOR)
    return False


def noisy_mask(df: pd.DataFrame) -> pd.Series:
    """True for each row of a speed table that is noisy: its ``noisy`` column where it says
    true or false, ``is_noisy`` of its own numbers where it is empty or absent (a table
    written before the column existed)."""
    def one(row: pd.Series) -> bool:
        flag = row.get("noisy")
        text = str(flag).strip().lower()
        if text in ("true", "false"):
            return text == "true"
        return is_noisy(*(pd.to_numeric(row.get(c), errors="coerce")
                          for c in ("ms_median", "ms_iqr", "ratio_ci_low", "ratio_ci_high")))

    if not len(df):
        return pd.Series(False, index=df.index, dtype=bool)
    return df.apply(one, axis=1).astype(bool)
