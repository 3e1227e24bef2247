"""How the attention suite reports its rows: the terminal table, its columns of the summary and the
claim they make, tested across seeds.

Every per-model figure here is the mean over the model's layers and heads, taken seed by seed
and then averaged over seeds (mean ± the half-width of the 95 % interval).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from rich.table import Table

from pe_bench.results.claims import Claim
from pe_bench.results.summary import SummaryPart, plus_minus
from pe_bench.results.tables import supported_rows
from pe_bench.stats import ONE_SEED, interval
from pe_bench.suites.attention.weights import SINK_THRESHOLD

#: the lengths the summary compares, as multiples of L
NEAR, FAR = 1, 8


def _rows(tables: Mapping[str, pd.DataFrame], name: str, metric: str) -> pd.DataFrame:
    df = tables.get("attention")
    if df is None or not len(df):
        return pd.DataFrame()
    df = supported_rows(df[(df["encoding"] == name) & (df["metric"] == metric)])
    return df[df["layer"].astype(float) >= 0]


def per_seed(tables: Mapping[str, pd.DataFrame], name: str, metric: str, factor: int) -> pd.Series:
    """``metric`` at ``factor`` x L, the mean over layers and heads, one value per seed (indexed by seed)."""
    df = _rows(tables, name, metric)
    if not len(df):
        return pd.Series(dtype=float)
    df = df[df["eval_len"].astype(int) == factor * df["train_len"].astype(int)]
    return df.assign(value=df["value"].astype(float)).groupby("seed")["value"].mean().dropna()


def entropy_growth(tables: Mapping[str, pd.DataFrame], name: str) -> pd.Series:
    """Mean attention entropy at 8L minus at L (nats), seed by seed: how much attention disperses past L."""
    near, far = per_seed(tables, name, "entropy_mean", NEAR), per_seed(tables, name, "entropy_mean", FAR)
    common = near.index.intersection(far.index)
    return far.loc[common] - near.loc[common]


def sink_heads(tables: Mapping[str, pd.DataFrame], name: str, factor: int) -> pd.Series:
    """The share of heads whose mean weight on the first token exceeds SINK_THRESHOLD at ``factor`` x L, per seed."""
    df = _rows(tables, name, "sink_first")
    if not len(df):
        return pd.Series(dtype=float)
    df = df[df["eval_len"].astype(int) == factor * df["train_len"].astype(int)]
    return (df["value"].astype(float) > SINK_THRESHOLD).groupby(df["seed"]).mean()


def summarize(tables: Mapping[str, pd.DataFrame], name: str) -> dict[str, Any]:
    """Entropy growth L -> 8L, first-token weight and weight within L at 8L: mean and 95 % half-width over seeds."""
    growth = entropy_growth(tables, name)
    if not len(growth):
        return {}
    row: dict[str, Any] = {}
    for column, values in (("attn_entropy_growth", growth),
                           ("attn_sink_8L", per_seed(tables, name, "sink_first", FAR)),
                           ("attn_within_L_8L", per_seed(tables, name, "within_L", FAR))):
        result = interval(values.to_numpy())
        row[column], row[f"{column}_ci95"] = result.mean, result.half_width
    return row


CLAIMS = (Claim("attention entropy growth from L to 8L (nats; less dispersed past L)", entropy_growth),)

SUMMARY = SummaryPart(
    columns=("attn_entropy_growth", "attn_entropy_growth_ci95", "attn_sink_8L", "attn_sink_8L_ci95",
             "attn_within_L_8L", "attn_within_L_8L_ci95"),
    compute=summarize,
    display=(
        ("entropy +8L", lambda r: plus_minus(r["attn_entropy_growth"], r["attn_entropy_growth_ci95"])),
        ("sink 8L", lambda r: plus_minus(r["attn_sink_8L"], r["attn_sink_8L_ci95"])),
        ("< L at 8L", lambda r: plus_minus(r["attn_within_L_8L"], r["attn_within_L_8L_ci95"])),
    ),
    legend="Attention of the trained models (the extrapolation suite's on fresh text, its last L queries per window; "
           "with --models TASK the tasks suite's on fresh examples, the queries that predict an answer byte), the mean "
           "over layers and heads: *entropy +8L* is the mean entropy of a query's weights at 8L minus at L (nats; "
           "log 8 = 2.08 if attention spread evenly over all visible keys); *sink 8L* the mean weight on the first "
           "token at 8L; *< L at 8L* the share of the weight on keys nearer than L at 8L.",
    claims=CLAIMS,
)


def _cell(values: pd.Series, digits: int = 2) -> str:
    result = interval(values.to_numpy())
    return "n/a" if math.isnan(result.mean) else plus_minus(result.mean, result.half_width, digits)


def render(tables: dict[str, pd.DataFrame]) -> Table:
    """Per encoding: entropy at L and 8L against log(visible keys), sinks, locality and the largest weight."""
    df = tables.get("attention", pd.DataFrame())
    seeds = sorted(df["seed"].unique()) if len(df) else []
    note = ONE_SEED if len(seeds) <= 1 else f"mean ± 95 % interval over {len(seeds)} seeds"
    tasks = sorted({str(t) for t in df["task"].fillna("") if t}) if "task" in df else []
    measured = f"the {', '.join(tasks)} models' answer queries" if tasks else "the last L queries"
    table = Table(title=f"attention of {measured}, mean over layers and heads (log keys: entropy of even "
                        f"weights); {note}")
    for column in ("encoding", "entropy L", "entropy 8L", "log keys 8L", "sink 8L",
                   f"sink heads 8L (> {SINK_THRESHOLD})", "< L at 8L", "max weight L", "max weight 8L"):
        table.add_column(column, justify="left" if column == "encoding" else "right")
    for name in dict.fromkeys(df["encoding"]) if len(df) else []:
        if not len(_rows(tables, name, "entropy_mean")):  # a schedule deeper than the model, a diverged model
            table.add_row(str(name), "unsupported", *[""] * 7)
            continue
        table.add_row(str(name), _cell(per_seed(tables, name, "entropy_mean", NEAR)),
                      _cell(per_seed(tables, name, "entropy_mean", FAR)),
                      _cell(per_seed(tables, name, "log_keys", FAR)),
                      _cell(per_seed(tables, name, "sink_first", FAR)), _cell(sink_heads(tables, name, FAR)),
                      _cell(per_seed(tables, name, "within_L", FAR)), _cell(per_seed(tables, name, "max_weight", NEAR)),
                      _cell(per_seed(tables, name, "max_weight", FAR)))
    return table
