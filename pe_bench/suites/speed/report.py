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
    table = Table(title=f"speed at T = {longest}: ms per step (x NoPE on the same backend)")
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


def _fastest(df: pd.DataFrame, name: str, mode: str) -> tuple[float, str, float]:
    """(ratio to NoPE, backend, length) of ``name``'s fastest backend at the longest length."""
    rows = supported_rows(df[(df["encoding"] == name) & (df["mode"] == mode)]) if len(df) else df
    if not len(rows):
        return math.nan, "", math.nan
    longest = rows["seq_len"].max()
    rows = rows[rows["seq_len"] == longest]
    best = rows.loc[rows["ms_median"].idxmin()]
    return float(best["ratio_vs_nope"]), str(best["backend"]), float(longest)


def summarize(tables: Mapping[str, pd.DataFrame], name: str) -> dict[str, Any]:
    speed = tables.get("speed")
    if speed is None or not len(speed):
        return {}
    infer, infer_backend, seq_len = _fastest(speed, name, "inference")
    train, train_backend, _ = _fastest(speed, name, "train")
    return {"infer_x_nope": infer, "infer_backend": infer_backend, "train_x_nope": train,
            "train_backend": train_backend, "speed_seq_len": seq_len}


SUMMARY = SummaryPart(
    columns=("infer_x_nope", "infer_backend", "train_x_nope", "train_backend", "speed_seq_len"),
    compute=summarize,
    display=(
        ("infer x NoPE", lambda r: f"{ratio(r['infer_x_nope'])} {label(r['infer_backend'])}".strip()),
        ("train x NoPE", lambda r: f"{ratio(r['train_x_nope'])} {label(r['train_backend'])}".strip()),
    ),
    legend="*x NoPE*: time over NoPE's at the longest length, measured side by side on the same backend, "
           "on the encoding's fastest backend (named).",
)
