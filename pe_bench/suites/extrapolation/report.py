"""How the extrapolation suite reports its rows: the terminal tables, its columns of the summary and
the claims those columns make, tested across seeds; and, with ``--tensorboard``, its scalars.

Every number is a mean over the seeds run, shown as mean ± the half-width of its 95 % interval
(stats.py); with one seed the tables say "1 seed, no interval". A ratio (8L / L) is taken
seed by seed, then averaged, so its interval is the ratio's own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from rich.console import Group
from rich.table import Table

from pe_bench.results.claims import Claim
from pe_bench.results.schema import Schema
from pe_bench.results.summary import SummaryPart, label, plus_minus, seeds_label
from pe_bench.results.tables import is_true, supported_rows
from pe_bench.stats import ONE_SEED, aggregate, interval
from pe_bench.suites.extrapolation.spec import EXTRAPOLATION
from pe_bench.tensorboard import Scalar, run_name


def _seeds_note(df: pd.DataFrame) -> str:
    """'mean ± 95 % interval over 3 seeds (0, 1, 2)', or '1 seed, no interval'."""
    seeds = sorted(int(s) for s in df["seed"].dropna().unique())
    if len(seeds) <= 1:
        return ONE_SEED
    return f"mean ± 95 % interval over {len(seeds)} seeds ({', '.join(map(str, seeds))})"


def _cells(stats: pd.DataFrame, index: str, columns: list, n_all: int) -> list[str]:
    """Formatted cells of one table row: mean ± half-width, the seed count where it falls short, n/a."""
    values = stats.set_index(index)
    cells = []
    for column in columns:
        if column not in values.index or math.isnan(values.loc[column, "mean"]):
            cells.append("n/a")
            continue
        entry = values.loc[column]
        short = f" (n={entry['n']})" if entry["n"] < n_all else ""
        cells.append(plus_minus(entry["mean"], entry["ci95"]) + short)
    return cells


def _supported_values(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the value of every unsupported row blanked, so it never counts as a seed's value."""
    return df.assign(value=df["value"].where(is_true(df["supported"])))


def render(tables: dict[str, pd.DataFrame]) -> Group:
    """Perplexity per evaluation length (non-overlapping windows), and streaming perplexity."""
    df = tables.get("extrapolation", pd.DataFrame())
    parts = []
    if len(df):
        df = _supported_values(df)
        n_all = df["seed"].nunique()
        lm = df[(df["task"] == "lm") & (df["eval_mode"] == "nonoverlap") & (df["metric"] == "ppl")]
        lengths = sorted(lm["eval_len"].unique())
        train_len = int(df["train_len"].iloc[0])
        table = Table(title=f"perplexity, non-overlapping windows, trained at L = {train_len}; {_seeds_note(df)}")
        table.add_column("encoding / variant")
        for length in lengths:
            table.add_column(f"{length} ({length // train_len}L)", justify="right")
        for variant, group in lm.groupby("variant", sort=False):
            table.add_row(str(variant), *_cells(aggregate(group, ["eval_len"]), "eval_len", lengths, n_all))
        parts.append(table)
        stream = df[(df["task"] == "stream") & (df["metric"] == "ppl")]
        if len(stream):
            modes = list(dict.fromkeys(stream["eval_mode"]))
            table = Table(title=f"streaming {int(stream['eval_len'].iloc[0])} tokens through a window of L: "
                                f"perplexity; {_seeds_note(stream)}")
            table.add_column("encoding")
            for mode in modes:
                table.add_column(mode, justify="right")
            for name, group in stream.groupby("encoding", sort=False):
                table.add_row(str(name), *_cells(aggregate(group, ["eval_mode"]), "eval_mode", modes, n_all))
            parts.append(table)
    return Group(*parts)


def per_seed(tables: Mapping[str, pd.DataFrame], name: str, factor: int, variant: str | None = None) -> pd.Series:
    """Perplexity (non-overlapping windows) of ``variant`` (default: the encoding itself) at
    ``factor`` x L, one value per seed (indexed by seed); empty where there is none."""
    ext = tables.get("extrapolation")
    if ext is None or not len(ext):
        return pd.Series(dtype=float)
    rows = supported_rows(ext[(ext["encoding"] == name) & (ext["variant"] == (variant or name))
                              & (ext["task"] == "lm") & (ext["eval_mode"] == "nonoverlap") & (ext["metric"] == "ppl")])
    rows = rows[rows["eval_len"] == factor * rows["train_len"]]
    return rows.drop_duplicates("seed", keep="last").set_index("seed")["value"].astype(float).dropna()


def ratio_8l_to_l(tables: Mapping[str, pd.DataFrame], name: str) -> pd.Series:
    """Perplexity at 8L over perplexity at L, seed by seed: how much worse the model gets past L (1 = flat)."""
    at_l, at_8l = per_seed(tables, name, 1), per_seed(tables, name, 8)
    common = at_l.index.intersection(at_8l.index)
    return at_8l.loc[common] / at_l.loc[common]


def summarize(tables: Mapping[str, pd.DataFrame], name: str) -> dict[str, Any]:
    """Perplexity at L, 4L and 8L and the 8L/L ratio (mean and 95 % half-width over seeds), the
    number of seeds, and the best scaling variant at 8L."""
    at_l = per_seed(tables, name, 1)
    if not len(at_l):
        return {}
    row: dict[str, Any] = {"seeds": len(at_l)}
    for column, values in (("ppl_L", at_l), ("ppl_4L", per_seed(tables, name, 4)), ("ppl_8L", per_seed(tables, name, 8)),
                           ("ratio_8L_L", ratio_8l_to_l(tables, name))):
        result = interval(values.to_numpy())
        row[column], row[f"{column}_ci95"] = result.mean, result.half_width
    ext = tables["extrapolation"]
    variants = [v for v in dict.fromkeys(ext.loc[ext["encoding"] == name, "variant"]) if v != name]
    at_8l = {v: interval(per_seed(tables, name, 8, v).to_numpy()) for v in variants}
    at_8l = {v: result for v, result in at_8l.items() if result.n}
    if at_8l:
        best = min(at_8l, key=lambda v: at_8l[v].mean)
        row["best_rope_scaling"] = f"{best} {plus_minus(at_8l[best].mean, at_8l[best].half_width)}"
    return row


CLAIMS = (
    Claim("perplexity at 8L", lambda tables, name: per_seed(tables, name, 8)),
    Claim("8L/L perplexity ratio (flatter past L)", ratio_8l_to_l, pairs=(("alibi", "rope"),)),
)

SUMMARY = SummaryPart(
    columns=("ppl_L", "ppl_L_ci95", "ppl_4L", "ppl_4L_ci95", "ppl_8L", "ppl_8L_ci95", "ratio_8L_L", "ratio_8L_L_ci95",
             "seeds", "best_rope_scaling"),
    compute=summarize,
    display=(
        ("ppl L", lambda r: plus_minus(r["ppl_L"], r["ppl_L_ci95"])),
        ("ppl 4L", lambda r: plus_minus(r["ppl_4L"], r["ppl_4L_ci95"])),
        ("ppl 8L", lambda r: plus_minus(r["ppl_8L"], r["ppl_8L_ci95"])),
        ("8L/L", lambda r: plus_minus(r["ratio_8L_L"], r["ratio_8L_L_ci95"], 3, suffix="x")),
        ("seeds", lambda r: seeds_label(r["seeds"])),
        ("best RoPE scaling", lambda r: label(r["best_rope_scaling"])),
    ),
    legend="Perplexities use non-overlapping windows; L is the training length; each is the mean over the seeds "
           "trained ± the half-width of its 95 % confidence interval (Student t; *1 seed, no interval* when one "
           "seed ran); *8L/L* is perplexity at 8L over perplexity at L, taken seed by seed (1x: flat past L); "
           "*best RoPE scaling* is the variant with the lowest mean perplexity at 8L.",
    claims=CLAIMS,
)


def board_run(encoding: str, seed: int, variant: str = "") -> str:
    """The TensorBoard run of a model (its training and its evaluation), or of a RoPE scaling variant of it."""
    return run_name("extrapolation", encoding, seed, variant)


def scalars(schema: Schema, rows: list[dict[str, Any]]) -> list[Scalar]:
    """``--tensorboard``: perplexity against evaluation length, one tag per evaluation mode
    (``eval/ppl/nonoverlap``, ``eval/ppl/sliding``, ...), its step the length; streaming and
    rows that could not run are left out."""
    if schema.name != EXTRAPOLATION.name:
        return []
    return [Scalar(board_run(r["encoding"], r["seed"], r["variant"]), f"eval/ppl/{r['eval_mode']}", r["value"],
                   r["eval_len"])
            for r in rows if r["task"] == "lm" and r["metric"] == "ppl" and math.isfinite(r["value"])]
