"""Which differences are real: the claims a summary makes, each tested across seeds.

A suite declares its claims as data (``Claim``) in its ``SummaryPart``: what is measured per
encoding and seed, whether lower or higher is better, and which encodings to compare — named
pairs ("ALiBi flatter than RoPE": ``pairs=(("alibi", "rope"),)``) or, with no pairs, the
ranking (each encoding against the next one in order of mean). ``test_claims`` compares each
pair on the seeds both have (a paired t-test, stats.py) and says whether the better one is
better beyond the noise of those seeds. This module names no suite.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from pe_bench.stats import ALPHA, CONFIDENCE, ONE_SEED, paired

#: the verdicts, as the summary prints them
REAL = "real"
WITHIN_NOISE = "within noise"

COLUMNS = ("claim", "better", "worse", "better_mean", "worse_mean", "margin", "margin_ci95", "seeds", "p_value",
           "verdict")


@dataclass(frozen=True)
class Claim:
    """A comparison the summary makes, tested across seeds.

    ``measure(tables, encoding)`` is the encoding's value per seed (a Series indexed by seed;
    empty where the encoding has none). ``pairs`` are (a, b) encodings to compare, or () for
    the ranking: every encoding against the next one by mean. Each pair is reported best first.
    """

    name: str  # what is compared, e.g. "perplexity at 8L"
    measure: Callable[[Mapping[str, pd.DataFrame], str], pd.Series]
    lower_is_better: bool = True
    pairs: tuple[tuple[str, str], ...] = ()


def verdict(p_value: float, seeds: int) -> str:
    """REAL below ALPHA, "within noise at n seeds" otherwise, ONE_SEED when there is no test."""
    if seeds < 2 or math.isnan(p_value):
        return ONE_SEED if seeds == 1 else "no common seeds"
    return REAL if p_value < ALPHA else f"{WITHIN_NOISE} at {seeds} seeds"


def _compare(claim: Claim, better: str, worse: str, values: Mapping[str, pd.Series]) -> dict:
    common = values[better].index.intersection(values[worse].index)
    a, b = values[better].loc[common], values[worse].loc[common]
    # margin: how much better ``better`` is, positive when it is (worse - better, or better - worse)
    lower, higher = (a, b) if claim.lower_is_better else (b, a)
    result = paired(lower.to_numpy(), higher.to_numpy())
    n = result.difference.n
    return {"claim": claim.name, "better": better, "worse": worse, "better_mean": float(values[better].mean()),
            "worse_mean": float(values[worse].mean()), "margin": result.difference.mean,
            "margin_ci95": result.difference.half_width, "seeds": n, "p_value": result.p_value,
            "verdict": verdict(result.p_value, n)}


def compare_claims(claims: Sequence[Claim], tables: Mapping[str, pd.DataFrame], encodings: Sequence[str]
                ) -> pd.DataFrame:
    """One row per compared pair of every claim (COLUMNS), for the ``encodings`` the tables hold."""
    rows = []
    for claim in claims:
        values = {name: claim.measure(tables, name).dropna() for name in encodings}
        values = {name: v for name, v in values.items() if len(v)}
        sign = 1 if claim.lower_is_better else -1
        ranked = sorted(values, key=lambda name: sign * values[name].mean())
        if claim.pairs:
            pairs = [tuple(sorted(pair, key=ranked.index)) for pair in claim.pairs if set(pair) <= set(values)]
        else:
            pairs = list(zip(ranked, ranked[1:]))
        rows += [_compare(claim, better, worse, values) for better, worse in pairs]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def legend() -> str:
    """How to read the table of claims, for summary.md."""
    return (f"Each row compares two encodings on the seeds both ran: *margin* is how much better the first is "
            f"(mean over seeds ± the {CONFIDENCE:.0%} interval of the paired differences, Student t), *p* the "
            f"paired t-test's two-sided p-value. *{REAL}*: p < {ALPHA:.2f}; *{WITHIN_NOISE}*: the difference is "
            f"not distinguishable from seed-to-seed variation at the seeds run (more seeds may separate them); "
            f"*{ONE_SEED}*: one seed cannot tell.")
