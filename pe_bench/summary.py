"""The cross-suite summary: one row per encoding, the answer to "which encoding, at what cost?".

Built from the saved tables (so rows resumed from an earlier run count), restricted to one
preset, device and dtype. Columns, each empty when its suite did not run:

- ``infer_x_nope`` / ``train_x_nope``: time over NoPE's at the longest length, on the
  encoding's fastest backend (ratio measured on that backend, side by side with NoPE);
- ``decode_ms`` / ``decode_speedup``: cached decode ms per token at the longest context and
  its speedup over recomputing the prefix, on the fastest backend;
- ``cache_max_diff``: the largest logit difference between cached decoding and a full
  forward, over every context, backend and original-position policy (exact: <= 1e-4);
- ``shift_max_diff``: the largest logit change from shifting positions, over every offset
  (invariant: <= 1e-4);
- ``ppl_L``, ``ppl_4L``, ``ppl_8L``: perplexity with non-overlapping windows;
- ``best_rope_scaling``: for RoPE, the scaling variant with the lowest perplexity at 8L, and that perplexity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from pe_bench.encodings import ENCODINGS
from pe_bench.results import supported_rows

EXACT = 1e-4  # a cache or a shift is called exact / invariant at or below this logit difference

COLUMNS = ("encoding", "family", "infer_x_nope", "infer_backend", "train_x_nope", "train_backend", "speed_seq_len",
           "decode_ms", "decode_speedup", "decode_context", "cache_max_diff", "shift_max_diff", "ppl_L", "ppl_4L",
           "ppl_8L", "best_rope_scaling")


def _speed(df: pd.DataFrame, name: str, mode: str) -> tuple[float, str, float]:
    rows = supported_rows(df[(df["encoding"] == name) & (df["mode"] == mode)]) if len(df) else df
    if not len(rows):
        return math.nan, "", math.nan
    longest = rows["seq_len"].max()
    rows = rows[rows["seq_len"] == longest]
    best = rows.loc[rows["ms_median"].idxmin()]
    return float(best["ratio_vs_nope"]), str(best["backend"]), float(longest)


def summarize(tables: dict[str, pd.DataFrame], encodings: Sequence[str]) -> pd.DataFrame:
    """One row per encoding (in ``encodings`` order) that any table mentions.

    ``tables`` should hold one configuration's rows (``runner.tables_for_run`` selects them);
    if a length appears twice anyway, the row written last counts.
    """
    empty = pd.DataFrame()
    speed, kv, shift, ext = (tables.get(name, empty) for name in ("speed", "kvcache", "shift", "extrapolation"))
    rows = []
    for name in encodings:
        mentioned = [df for df in (speed, kv, shift, ext) if len(df) and (df["encoding"] == name).any()]
        if not mentioned:
            continue
        row: dict[str, object] = {c: math.nan for c in COLUMNS} | {"encoding": name, "infer_backend": "",
                                                                   "train_backend": "", "best_rope_scaling": ""}
        row["family"] = ENCODINGS[name].family.value if name in ENCODINGS else ""
        if len(speed):
            row["infer_x_nope"], row["infer_backend"], row["speed_seq_len"] = _speed(speed, name, "inference")
            row["train_x_nope"], row["train_backend"], _ = _speed(speed, name, "train")
        if len(kv):
            mine = supported_rows(kv[kv["encoding"] == name])
            full = mine[mine["policy"] == "full"]
            if len(full):
                longest = full[full["context_len"] == full["context_len"].max()]
                best = longest.loc[longest["cached_ms_per_token"].idxmin()]
                row.update(decode_ms=best["cached_ms_per_token"], decode_speedup=best["speedup"],
                           decode_context=best["context_len"])
            exactness = mine[mine["positions"] == "original"]["max_abs_logit_diff"]
            row["cache_max_diff"] = exactness.max() if len(exactness) else math.nan
        if len(shift):
            mine = supported_rows(shift[shift["encoding"] == name])
            row["shift_max_diff"] = mine["max_abs_logit_diff"].max() if len(mine) else math.nan
        if len(ext):
            lm = ext[(ext["encoding"] == name) & (ext["task"] == "lm") & (ext["eval_mode"] == "nonoverlap")
                     & (ext["metric"] == "ppl")]
            base = supported_rows(lm[lm["variant"] == name])
            if len(base):
                train_len = int(base["train_len"].iloc[0])
                values = base.drop_duplicates("eval_len", keep="last").set_index("eval_len")["value"]
                for factor, column in ((1, "ppl_L"), (4, "ppl_4L"), (8, "ppl_8L")):
                    row[column] = values.get(factor * train_len, math.nan)
                variants = supported_rows(lm[(lm["variant"] != name) & (lm["eval_len"] == 8 * train_len)])
                if len(variants):
                    best = variants.loc[variants["value"].idxmin()]
                    row["best_rope_scaling"] = f"{best['variant']} {best['value']:.2f}"
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _fmt(value: object, kind: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return ""
    if kind == "ratio":
        return f"{value:.2f}x"
    if kind == "exact":
        return f"{'yes' if value <= EXACT else 'NO'} ({value:.0e})"
    if kind == "speedup":
        return f"{value:.0f}x"
    if kind == "float":
        return f"{value:.2f}"
    return str(value)


#: (column title, how to show it) for the terminal and Markdown tables
DISPLAY = (
    ("encoding", lambda r: r["encoding"]),
    ("infer x NoPE", lambda r: f"{_fmt(r['infer_x_nope'], 'ratio')} {r['infer_backend']}".strip()),
    ("train x NoPE", lambda r: f"{_fmt(r['train_x_nope'], 'ratio')} {r['train_backend']}".strip()),
    ("decode ms/tok", lambda r: _fmt(r["decode_ms"], "float")),
    ("cache speedup", lambda r: _fmt(r["decode_speedup"], "speedup")),
    ("cache exact", lambda r: _fmt(r["cache_max_diff"], "exact")),
    ("shift-invariant", lambda r: _fmt(r["shift_max_diff"], "exact")),
    ("ppl L", lambda r: _fmt(r["ppl_L"], "float")),
    ("ppl 4L", lambda r: _fmt(r["ppl_4L"], "float")),
    ("ppl 8L", lambda r: _fmt(r["ppl_8L"], "float")),
    ("best RoPE scaling", lambda r: r["best_rope_scaling"]),
)


def display_rows(summary: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Column titles and formatted cells, shared by the terminal table and the Markdown file."""
    return [title for title, _ in DISPLAY], [[show(row) for _, show in DISPLAY] for _, row in summary.iterrows()]


def markdown_table(titles: list[str], cells: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table; pipes inside titles and cells are escaped."""
    def row(values: list[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    return "\n".join([row(titles), "|" + "|".join("---" for _ in titles) + "|", *(row(r) for r in cells)])
