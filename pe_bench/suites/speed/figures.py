"""The speed suite's figure: each encoding's step time relative to NoPE's on NoPE's fastest backend.

A noisy point (its timings spread too widely for the ratio to mean anything: pe_bench.noise.is_noisy)
is circled in red and the legend says so, so a figure never shows noise as a result."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from pe_bench.figures.common import (
    FigureSpec, NoUsableRows, legend_outside, log_x, one_setting, plot_per_encoding, prepare, subplots, title,
)
from pe_bench.results.tables import supported_rows
from pe_bench.noise import noisy_mask

NOISY_LABEL = "noisy: measure again"


def draw_speed_ratio(speed: pd.DataFrame) -> Figure:
    """Step time relative to NoPE vs sequence length, one panel per mode, best backend per point."""
    df = supported_rows(prepare(speed, "ms_median", "ratio_vs_nope", "seq_len"))
    df = df.assign(noisy=noisy_mask(df))
    df = df[df["ratio_vs_nope"].notna() & df["ms_median"].notna()]
    if df.empty:
        raise NoUsableRows("speed.csv has no supported rows with a ratio_vs_nope")
    df, note = one_setting(df, ("preset", "batch_size", "device", "dtype", "threads"))
    backends = sorted(set(df["backend"]))
    # for each point keep the backend that ran fastest: the figure compares encodings, not kernels
    df = df.loc[df.groupby(["encoding", "mode", "seq_len"])["ms_median"].idxmin()]
    modes = sorted(set(df["mode"]), key=lambda m: (m != "inference", m))
    fig, axes = subplots(len(modes), sharey=True)
    for ax, mode in zip(axes, modes):
        rows = df[df["mode"] == mode]
        plot_per_encoding(ax, rows, "seq_len", "ratio_vs_nope", marker="o", markersize=3)
        noisy = rows[rows["noisy"]]
        if len(noisy):
            ax.plot(noisy["seq_len"], noisy["ratio_vs_nope"], linestyle="none", marker="o", markersize=9,
                    markerfacecolor="none", markeredgecolor="red", label=NOISY_LABEL)
        ax.axhline(1.0, color="black", linewidth=1, linestyle=":", label="same time as NoPE")
        log_x(ax, rows["seq_len"], "sequence length (tokens)")
        ax.set_title(f"{mode} step", fontsize="medium")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("step time / NoPE's fastest step time (×)")
    legend_outside(axes)
    first = df.iloc[0]
    how = f"best of backends {', '.join(backends)} per point" if len(backends) > 1 else f"backend {backends[0]}"
    # what it plots, not "per backend": each point is the encoding's fastest backend there
    title(fig, "Step time on each encoding's fastest backend over NoPE's on its fastest (below 1: faster than NoPE)",
          f"{how}; batch {first['batch_size']}, {first['device']}, {first['dtype']}{note}")
    return fig


FIGURES: tuple[FigureSpec, ...] = (FigureSpec("speed_ratio", "speed", draw_speed_ratio),)
