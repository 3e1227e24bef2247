"""How the speed suite reports its rows: the terminal table and its columns of the summary."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from rich.table import Table

from pe_bench.results.summary import SummaryPart, label, ratio
from pe_bench.results.tables import supported_rows


def render(tables: dict[str, pd.DataFrame]) -> Table:
    """ms per step and the ratio to NoPE at the longest length, one column per backend x mode."""
    df = tables["speed"]
    longest = df["seq_len"].max()
    df = df[df["seq_len"] == longest]
    table = Table(title=f"speed at T = {longest}: ms per step (x NoPE on NoPE's fastest backend)")
    table.add_column("encoding")
    columns = list(dict.fromkeys(zip(df["mode"], df["backend"])))
    for mode, backend in columns:
        table.add_column(f"{backend}\n{mode}", justify="right")
    for name, group in df.groupby("encoding", sort=False):
        cells = []
        for mode, backend in columns:
            row = group[(group["mode"] == mode) & (group["backend"] == backend)]
            if row.empty or not bool(row["supported"].iloc[0]):
                cells.append("n/a")
            else:
                cells.append(f"{row['ms_median'].iloc[0]:.1f} ({row['ratio_vs_nope'].iloc[0]:.2f}x)")
        table.add_row(str(name), *cells)
    return table


def _fastest(df: pd.DataFrame, name: str, mode: str) -> dict[str, Any]:
    """``name``'s fastest backend at the longest length: its ratio to NoPE's fastest backend,
    the ratio's 95% interval, the two backends and the length; NaN and '' where not measured."""
    rows = supported_rows(df[(df["encoding"] == name) & (df["mode"] == mode)]) if len(df) else df
    if not len(rows):
        return {"x": math.nan, "low": math.nan, "high": math.nan, "backend": "", "nope": "", "seq_len": math.nan}
    longest = rows["seq_len"].max()
    rows = rows[rows["seq_len"] == longest]
    best = rows.loc[rows["ms_median"].idxmin()]

    def get(column: str, default: object = math.nan) -> object:
        return best[column] if column in best.index and not pd.isna(best[column]) else default

    return {"x": float(best["ratio_vs_nope"]), "low": float(get("ratio_ci_low")), "high": float(get("ratio_ci_high")),
            "backend": str(best["backend"]), "nope": str(get("nope_backend", "")), "seq_len": float(longest)}


def summarize(tables: Mapping[str, pd.DataFrame], name: str) -> dict[str, Any]:
    speed = tables.get("speed")
    if speed is None or not len(speed):
        return {}
    out: dict[str, Any] = {}
    for mode, prefix in (("inference", "infer"), ("train", "train")):
        best = _fastest(speed, name, mode)
        out.update({f"{prefix}_x_nope": best["x"], f"{prefix}_ci_low": best["low"], f"{prefix}_ci_high": best["high"],
                    f"{prefix}_backend": best["backend"], f"{prefix}_nope_backend": best["nope"]})
        if mode == "inference" or math.isnan(out.get("speed_seq_len", math.nan)):
            out["speed_seq_len"] = best["seq_len"]
    return out


def _with_interval(r: Mapping[str, Any], prefix: str) -> str:
    """'1.07x [1.02, 1.11] sdpa': the ratio, its 95% interval, the backend it ran on."""
    text = ratio(r[f"{prefix}_x_nope"])
    low, high = r.get(f"{prefix}_ci_low"), r.get(f"{prefix}_ci_high")
    if text and not (pd.isna(low) or pd.isna(high)):
        text += f" [{low:.2f}, {high:.2f}]"
    return f"{text} {label(r[f'{prefix}_backend'])}".strip()


SUMMARY = SummaryPart(
    columns=("infer_x_nope", "infer_ci_low", "infer_ci_high", "infer_backend", "infer_nope_backend",
             "train_x_nope", "train_ci_low", "train_ci_high", "train_backend", "train_nope_backend", "speed_seq_len"),
    compute=summarize,
    display=(
        ("infer x NoPE", lambda r: _with_interval(r, "infer")),
        ("train x NoPE", lambda r: _with_interval(r, "train")),
    ),
    legend="*x NoPE*: time on the encoding's fastest backend (named) over NoPE's on *its* fastest backend, "
           "measured side by side in the same rounds at the longest length; in brackets a 95% bootstrap interval.",
)
