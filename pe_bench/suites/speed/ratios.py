"""Each speed row's cost over NoPE's: against NoPE's fastest backend (the honest baseline) and
against NoPE on the row's own backend, with a bootstrap interval for the honest one; and
whether the row's timings spread too widely for that ratio to mean anything (pe_bench/noise.py)."""

from __future__ import annotations

import math

from pe_bench.bootstrap import ratio_interval
from pe_bench.noise import is_noisy

def nope_baseline(rows: dict[tuple[str, str], dict], samples: dict[tuple[str, str], list[float]]) -> str | None:
    """The backend on which NoPE ran fastest in this group (rows keyed by (backend, encoding)), or None."""
    timed = [(row["ms_median"], backend) for (backend, name), row in rows.items()
             if name == "nope" and (backend, name) in samples and not math.isnan(row["ms_median"])]
    return min(timed)[1] if timed else None


def add_ratios(rows: dict[tuple[str, str], dict], samples: dict[tuple[str, str], list[float]]) -> None:
    """Fill ``ratio_vs_nope`` (over NoPE's fastest backend in the group), its 95% bootstrap
    interval, ``nope_backend``, ``ratio_vs_nope_same_backend`` and ``noisy``, in place.

    ``samples`` holds each measured row's per-repeat seconds; rows that did not run stay NaN
    (and ``noisy`` empty).
    """
    best = nope_baseline(rows, samples)
    for (backend, name), row in rows.items():
        if (backend, name) not in samples:
            continue
        same = rows.get((backend, "nope"))
        if same is not None and (backend, "nope") in samples:
            row["ratio_vs_nope_same_backend"] = row["ms_median"] / same["ms_median"]
        if best is not None:
            row["nope_backend"] = best
            row["ratio_vs_nope"] = row["ms_median"] / rows[(best, "nope")]["ms_median"]
            row["ratio_ci_low"], row["ratio_ci_high"] = ratio_interval(samples[(backend, name)],
                                                                       samples[(best, "nope")])
        row["noisy"] = is_noisy(row["ms_median"], row["ms_iqr"], row["ratio_ci_low"], row["ratio_ci_high"])
