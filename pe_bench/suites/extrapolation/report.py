"""How the extrapolation suite reports its rows: the terminal tables and its columns of the summary."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from rich.console import Group
from rich.table import Table

from pe_bench.results.summary import SummaryPart, decimal, label
from pe_bench.results.tables import is_true, supported_rows


def render(tables: dict[str, pd.DataFrame]) -> Group:
    """Perplexity per evaluation length (non-overlapping windows), and streaming perplexity."""
    df = tables.get("extrapolation", pd.DataFrame())
    parts = []
    if len(df):
        lm = df[(df["task"] == "lm") & (df["eval_mode"] == "nonoverlap") & (df["metric"] == "ppl")]
        lengths = sorted(lm["eval_len"].unique())
        train_len = int(df["train_len"].iloc[0])
        table = Table(title=f"perplexity, non-overlapping windows, trained at L = {train_len}")
        table.add_column("encoding / variant")
        for length in lengths:
            table.add_column(f"{length} ({length // train_len}L)", justify="right")
        for variant, group in lm.groupby("variant", sort=False):
            values = group.drop_duplicates("eval_len", keep="last").set_index("eval_len")
            cells = [f"{values.loc[n, 'value']:.2f}" if n in values.index and is_true(values.loc[[n], "supported"]).iloc[0]
                     else "n/a" for n in lengths]
            table.add_row(str(variant), *cells)
        parts.append(table)
        stream = df[(df["task"] == "stream") & (df["metric"] == "ppl")]
        if len(stream):
            modes = list(dict.fromkeys(stream["eval_mode"]))
            table = Table(title=f"streaming {int(stream['eval_len'].iloc[0])} tokens through a window of L: perplexity")
            table.add_column("encoding")
            for mode in modes:
                table.add_column(mode, justify="right")
            for name, group in stream.groupby("encoding", sort=False):
                values = group.drop_duplicates("eval_mode", keep="last").set_index("eval_mode")
                table.add_row(str(name), *[f"{values.loc[m, 'value']:.2f}" if is_true(values.loc[[m], "supported"]).iloc[0]
                                           else "n/a" for m in modes])
            parts.append(table)
    return Group(*parts)


def summarize(tables: Mapping[str, pd.DataFrame], name: str) -> dict[str, Any]:
    """Perplexity at L, 4L and 8L (non-overlapping windows), and the best scaling variant at 8L."""
    ext = tables.get("extrapolation")
    if ext is None or not len(ext):
        return {}
    lm = ext[(ext["encoding"] == name) & (ext["task"] == "lm") & (ext["eval_mode"] == "nonoverlap")
             & (ext["metric"] == "ppl")]
    base = supported_rows(lm[lm["variant"] == name])
    if not len(base):
        return {}
    train_len = int(base["train_len"].iloc[0])
    values = base.drop_duplicates("eval_len", keep="last").set_index("eval_len")["value"]
    row = {column: values.get(factor * train_len, math.nan)
           for factor, column in ((1, "ppl_L"), (4, "ppl_4L"), (8, "ppl_8L"))}
    variants = supported_rows(lm[(lm["variant"] != name) & (lm["eval_len"] == 8 * train_len)])
    if len(variants):
        best = variants.loc[variants["value"].idxmin()]
        row["best_rope_scaling"] = f"{best['variant']} {best['value']:.2f}"
    return row


SUMMARY = SummaryPart(
    columns=("ppl_L", "ppl_4L", "ppl_8L", "best_rope_scaling"),
    compute=summarize,
    display=(
        ("ppl L", lambda r: decimal(r["ppl_L"])),
        ("ppl 4L", lambda r: decimal(r["ppl_4L"])),
        ("ppl 8L", lambda r: decimal(r["ppl_8L"])),
        ("best RoPE scaling", lambda r: label(r["best_rope_scaling"])),
    ),
    legend="Perplexities use non-overlapping windows; L is the training length; *best RoPE scaling* is the "
           "variant with the lowest perplexity at 8L.",
)
