"""How the KV-cache suite reports its rows: the terminal table and its columns of the summary."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from rich.table import Table

from pe_bench.results.summary import SummaryPart, decimal, exact, times
from pe_bench.results.tables import is_true, supported_rows


def render(tables: dict[str, pd.DataFrame]) -> Table:
    """At the longest context on each backend: exactness, decode cost, shift error."""
    df = tables.get("kvcache", pd.DataFrame())
    full = df[df["policy"] == "full"] if len(df) else df
    longest = full["context_len"].max() if len(full) else 0
    table = Table(title=f"KV cache at T = {longest} (full policy); shift = |diff| at the largest offset")
    for column in ("encoding", "backend", "max |diff|", "cached ms/tok", "uncached ms/tok", "speedup",
                   "pe ms/step", "shift"):
        table.add_column(column, justify="left" if column in ("encoding", "backend") else "right")
    shift = tables.get("shift", pd.DataFrame())
    at_longest = full[full["context_len"] == longest] if len(full) else pd.DataFrame()  # no kvcache rows: none
    for _, row in at_longest.iterrows():
        shift_cell = ""
        if len(shift):
            s = shift[(shift["encoding"] == row["encoding"]) & (shift["backend"] == row["backend"])
                      & is_true(shift["supported"])]
            if len(s):
                shift_cell = f"{s.loc[s['offset'].idxmax(), 'max_abs_logit_diff']:.1e}"
        if not bool(row["supported"]):
            table.add_row(row["encoding"], row["backend"], "n/a", "", "", "", "", shift_cell)
            continue
        table.add_row(row["encoding"], row["backend"], f"{row['max_abs_logit_diff']:.1e}",
                      f"{row['cached_ms_per_token']:.2f}", f"{row['uncached_ms_per_token']:.1f}",
                      f"{row['speedup']:.0f}x", f"{row['pe_ms_per_step']:.3f}", shift_cell)
    return table


def summarize(tables: Mapping[str, pd.DataFrame], name: str) -> dict[str, Any]:
    """Decode cost at the longest context (fastest backend), and the largest cache and shift errors."""
    values: dict[str, Any] = {}
    kv = tables.get("kvcache")
    if kv is not None and len(kv):
        mine = supported_rows(kv[kv["encoding"] == name])
        full = mine[mine["policy"] == "full"]
        if len(full):
            longest = full[full["context_len"] == full["context_len"].max()]
            best = longest.loc[longest["cached_ms_per_token"].idxmin()]
            values.update(decode_ms=best["cached_ms_per_token"], decode_speedup=best["speedup"],
                          decode_context=best["context_len"])
        exactness = mine[mine["positions"] == "original"]["max_abs_logit_diff"]
        values["cache_max_diff"] = exactness.max() if len(exactness) else math.nan
    shift = tables.get("shift")
    if shift is not None and len(shift):
        mine = supported_rows(shift[shift["encoding"] == name])
        values["shift_max_diff"] = mine["max_abs_logit_diff"].max() if len(mine) else math.nan
    return values


SUMMARY = SummaryPart(
    columns=("decode_ms", "decode_speedup", "decode_context", "cache_max_diff", "shift_max_diff"),
    compute=summarize,
    display=(
        ("decode ms/tok", lambda r: decimal(r["decode_ms"])),
        ("cache speedup", lambda r: times(r["decode_speedup"])),
        ("cache exact", lambda r: exact(r["cache_max_diff"])),
        ("shift-invariant", lambda r: exact(r["shift_max_diff"])),
    ),
    legend="*decode ms/tok* and *cache speedup*: cached decoding at the longest context, and its speedup over "
           "recomputing the prefix. *cache exact*: the largest logit difference between KV-cached decoding and a "
           "full forward (yes at <= 1e-4). *shift-invariant*: the largest logit change when every position moves "
           "by the same offset.",
)
