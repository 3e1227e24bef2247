"""How the speed suite reports its rows: the terminal table, its columns of the summary, and the
note at the end of a run naming the noisy rows (pe_bench.noise.is_noisy) and how to measure them again.

Every place that shows a ratio to NoPE marks a noisy row's ratio with "noisy": a ratio whose timings
spread that widely (issue 26: 391x, its interval from 0.0045 to 491) is noise, not a result."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from rich.table import Table

from pe_bench.results.summary import SummaryPart, label, ratio
from pe_bench.results.tables import is_true, supported_rows
from pe_bench.noise import MAX_INTERVAL_FACTOR, MAX_SPREAD, noisy_mask

NOISY = "noisy"  # the marker every table and the figure show next to a noisy row's ratio
#: how many noisy rows the end-of-run note names before it says "and N more"
NAMED = 6


def render(tables: dict[str, pd.DataFrame]) -> Table:
    """ms per step and the ratio to NoPE at the longest length, one column per backend x mode."""
    df = tables["speed"]
    longest = df["seq_len"].max()
    df = df[df["seq_len"] == longest]
    noisy = noisy_mask(df)
    title = f"speed at T = {longest}: ms per step (x NoPE on NoPE's fastest backend)"
    if (noisy & is_true(df["supported"])).any():
        title += f"; {NOISY}: timings too spread for the ratio to mean anything"
    table = Table(title=title)
    table.add_column("encoding")
    columns = list(dict.fromkeys(zip(df["mode"], df["backend"])))
    for mode, backend in columns:
        table.add_column(f"{backend}\n{mode}", justify="right")
    for name, group in df.groupby("encoding", sort=False):
        cells = []
        for mode, backend in columns:
            row = group[(group["mode"] == mode) & (group["backend"] == backend)]
            if row.empty or not is_true(row["supported"]).iloc[0]:
                cells.append("n/a")
            else:
                mark = f" {NOISY}" if noisy[row.index[0]] else ""
                cells.append(f"{row['ms_median'].iloc[0]:.1f} ({row['ratio_vs_nope'].iloc[0]:.2f}x){mark}")
        table.add_row(str(name), *cells)
    return table


def _fastest(df: pd.DataFrame, name: str, mode: str) -> dict[str, Any]:
    """``name``'s fastest backend at the longest length: its ratio to NoPE's fastest backend,
    the ratio's 95% interval, the two backends and the length; NaN and '' where not measured."""
    rows = supported_rows(df[(df["encoding"] == name) & (df["mode"] == mode)]) if len(df) else df
    if not len(rows):
        return {"x": math.nan, "low": math.nan, "high": math.nan, "backend": "", "nope": "", "seq_len": math.nan,
                "noisy": False}
    longest = rows["seq_len"].max()
    rows = rows[rows["seq_len"] == longest]
    best = rows.loc[rows["ms_median"].idxmin()]
    noisy = bool(noisy_mask(rows.loc[[best.name]]).iloc[0])

    def get(column: str, default: object = math.nan) -> object:
        return best[column] if column in best.index and not pd.isna(best[column]) else default

    return {"x": float(best["ratio_vs_nope"]), "low": float(get("ratio_ci_low")), "high": float(get("ratio_ci_high")),
            "backend": str(best["backend"]), "nope": str(get("nope_backend", "")), "seq_len": float(longest),
            "noisy": noisy}


def summarize(tables: Mapping[str, pd.DataFrame], name: str) -> dict[str, Any]:
    speed = tables.get("speed")
    if speed is None or not len(speed):
        return {}
    out: dict[str, Any] = {}
    for mode, prefix in (("inference", "infer"), ("train", "train")):
        best = _fastest(speed, name, mode)
        out.update({f"{prefix}_x_nope": best["x"], f"{prefix}_ci_low": best["low"], f"{prefix}_ci_high": best["high"],
                    f"{prefix}_backend": best["backend"], f"{prefix}_nope_backend": best["nope"],
                    f"{prefix}_noisy": best["noisy"]})
        if mode == "inference" or math.isnan(out.get("speed_seq_len", math.nan)):
            out["speed_seq_len"] = best["seq_len"]
    return out


def _with_interval(r: Mapping[str, Any], prefix: str) -> str:
    """'1.07x [1.02, 1.11] sdpa': the ratio, its 95% interval, the backend it ran on."""
    text = ratio(r[f"{prefix}_x_nope"])
    low, high = r.get(f"{prefix}_ci_low"), r.get(f"{prefix}_ci_high")
    if text and not (pd.isna(low) or pd.isna(high)):
        text += f" [{low:.2f}, {high:.2f}]"
    text = f"{text} {label(r[f'{prefix}_backend'])}".strip()
    return f"{text} {NOISY}" if text and str(r.get(f"{prefix}_noisy")).lower() == "true" else text


def noisy_notes(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    """One line naming this run's noisy speed rows and how to measure them again; none if there are none."""
    df = tables.get("speed")
    if df is None or not len(df):
        return []
    timed = supported_rows(df)
    noisy = timed[noisy_mask(timed)]
    if not len(noisy):
        return []
    names = [f"{r['encoding']} {r['backend']} {r['mode']} T={r['seq_len']}" for _, r in noisy.iterrows()]
    shown = ", ".join(names[:NAMED]) + (f" and {len(names) - NAMED} more" if len(names) > NAMED else "")
    repeats = pd.to_numeric(noisy["repeats"], errors="coerce").max()
    more = max(10, 2 * int(repeats)) if repeats == repeats and repeats > 0 else 10
    now = f" (this run: {int(repeats)})" if repeats == repeats and repeats > 0 else ""
    return [f"speed: {len(noisy)} of {len(timed)} timed rows are {NOISY}, their ratio to NoPE is noise, not a "
            f"result: {shown}. Measure them again on a quiet machine with more repeats{now}: the same command "
            f"with --suite speed --repeats {more}"]


SUMMARY = SummaryPart(
    columns=("infer_x_nope", "infer_ci_low", "infer_ci_high", "infer_backend", "infer_nope_backend", "infer_noisy",
             "train_x_nope", "train_ci_low", "train_ci_high", "train_backend", "train_nope_backend", "train_noisy",
             "speed_seq_len"),
    compute=summarize,
    display=(
        ("infer x NoPE", lambda r: _with_interval(r, "infer")),
        ("train x NoPE", lambda r: _with_interval(r, "train")),
    ),
    legend="*x NoPE*: time on the encoding's fastest backend (named) over NoPE's on *its* fastest backend, "
           "measured side by side in the same rounds at the longest length; in brackets a 95% bootstrap interval; "
           f"*{NOISY}*: the timings spread too widely for the ratio to mean anything (IQR above {MAX_SPREAD:g} x "
           f"the median, or an interval wider than a factor {MAX_INTERVAL_FACTOR:g}): measure again.",
    notes=noisy_notes,
)
