"""The KV-cache suite's figures: decode time with and without a cache, shift invariance, precision."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from pe_bench.figures.common import (
    ZERO_FLOOR, FigureSpec, NoUsableRows, colour, legend_outside, log_x, one_setting, order, others,
    plain_log_y, plot_per_encoding, prefer, prepare, subplots, title,
)
from pe_bench.results.tables import supported_rows


def draw_kvcache_decode(kvcache: pd.DataFrame) -> Figure:
    """Per-token decode time with and without a KV cache vs context length (full cache)."""
    df = supported_rows(prepare(kvcache, "cached_ms_per_token", "uncached_ms_per_token", "context_len"))
    df = df[df["policy"] == "full"]
    if df.empty:
        raise NoUsableRows("kvcache.csv has no supported rows with policy 'full'")
    all_backends = df
    df, backend = prefer(df, "backend", "sdpa")
    df, note = one_setting(df, ("preset", "device", "dtype", "threads", "positions"))
    fig, axes = subplots(1, width=7.5)
    ax = axes[0]
    # solid and dashed tell cached from uncached here, so a variant's own line style is overridden
    plot_per_encoding(ax, df, "context_len", "cached_ms_per_token", marker="o", markersize=3, linestyle="-")
    # one legend entry per encoding, on its solid line
    plot_per_encoding(ax, df, "context_len", "uncached_ms_per_token", marker="s", markersize=3, linestyle="--",
                      label="_nolegend_")
    # a legend entry for what solid and dashed mean, drawn in neutral black
    ax.plot([], [], color="black", linestyle="-", label="cached (solid)")
    ax.plot([], [], color="black", linestyle="--", label="uncached: full forward (dashed)")
    log_x(ax, df["context_len"], "context length (tokens)")
    plain_log_y(ax)
    ax.set_ylabel("time per generated token (ms, log scale)")
    ax.grid(True, which="both", alpha=0.3)
    legend_outside([ax])
    first = df.iloc[0]
    title(fig, "Time to decode one token: full KV cache vs none",
          f"backend {backend}{others(all_backends, 'backend', backend)}; {first['device']}, {first['dtype']}{note}")
    return fig


def draw_shift_invariance(shift: pd.DataFrame) -> Figure:
    """Max logit difference when the same tokens start at position c instead of 0, vs c."""
    df = supported_rows(prepare(shift, "offset", "max_abs_logit_diff"))
    df = df[df["max_abs_logit_diff"].notna()]
    if df.empty:
        raise NoUsableRows("shift.csv has no supported rows")
    all_backends = df
    df, backend = prefer(df, "backend", "sdpa")
    df, note = one_setting(df, ("seq_len", "preset", "device", "dtype", "threads"))
    clipped = bool((df["max_abs_logit_diff"] <= 0).any())
    fig, axes = subplots(1, width=7.5)
    ax = axes[0]
    # lines that are exactly 0 lie on top of each other at the floor: the legend says which they are
    zero = df.groupby("encoding")["max_abs_logit_diff"].max() <= 0
    labels = {encoding: f"{encoding} (exactly 0)" for encoding in zero.index[zero]}
    drawn = df.assign(drawn=df["max_abs_logit_diff"].clip(lower=ZERO_FLOOR))
    plot_per_encoding(ax, drawn, "offset", "drawn", labels=labels, marker="o", markersize=3)
    log_x(ax, df["offset"], "offset c: positions c .. c+T-1 instead of 0 .. T-1", base=10)
    ax.set_yscale("log")
    ax.set_ylabel("max |logit difference|" + (f" (0 drawn at {ZERO_FLOOR:g})" if clipped else ""))
    ax.grid(True, which="major", alpha=0.3)
    legend_outside([ax])
    first = df.iloc[0]
    title(fig, "Shift invariance: the same tokens at positions c.. instead of 0.. (lower: more invariant)",
          f"T = {first['seq_len']}, backend {backend}{others(all_backends, 'backend', backend)}{note}")
    return fig


def draw_precision(precision: pd.DataFrame) -> Figure:
    """Error against float64 vs position, one panel per dtype, one line per (encoding, quantity)."""
    df = prepare(precision, "position", "abs_error")
    df = df[df["position"].notna()]
    if df["abs_error"].isna().all():
        raise NoUsableRows("precision.csv has no abs_error values")
    df, note = one_setting(df, ("device",))
    rank = {"float32": 0, "bfloat16": 1, "float16": 2}
    dtypes = sorted(set(df["dtype"]), key=lambda d: (rank.get(d, len(rank)), d))
    fig, axes = subplots(len(dtypes), width=5.0, sharey=True)
    clipped = False
    for ax, dtype in zip(axes, dtypes):
        rows = df[df["dtype"] == dtype]
        missing = int(rows["abs_error"].isna().sum())
        clipped |= bool((rows["abs_error"] <= 0).any())
        for encoding in order(rows["encoding"]):
            for quantity in sorted(set(rows.loc[rows["encoding"] == encoding, "quantity"])):
                line = rows[(rows["encoding"] == encoding) & (rows["quantity"] == quantity)].sort_values("position")
                if line["abs_error"].isna().all():
                    continue
                # NaN (float16 overflow) stays in the series: matplotlib leaves a gap there
                ax.plot(line["position"], line["abs_error"].clip(lower=ZERO_FLOOR), color=colour(encoding),
                        linestyle="--" if quantity.endswith("_angles_in_dtype") else "-",
                        marker="o", markersize=2, label=f"{encoding}: {quantity}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("position")
        ax.set_title(dtype + (f" ({missing} NaN values not drawn: overflow)" if missing else ""), fontsize="medium")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("absolute error vs float64" + (f" (0 drawn at {ZERO_FLOOR:g})" if clipped else ""))
    legend_outside(axes)
    title(fig, "Precision at large positions: error against float64",
          "solid: angles in float64, then rounded to the dtype (pe-bench); dashed: position and angle computed "
          "in the dtype itself" + note)
    return fig


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("kvcache_decode", "kvcache", draw_kvcache_decode),
    FigureSpec("shift_invariance", "shift", draw_shift_invariance),
    FigureSpec("precision", "precision", draw_precision),
)
