"""The extrapolation suite's figures: perplexity vs length, streaming perplexity, training loss.

In ``ppl_vs_length`` a variant with a single point (learned positions have no perplexity past
their table, so only the one at L) is drawn with a large marker above the dashed line at L,
which would otherwise hide it.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from pe_bench.figures.common import (
    FigureSpec, NoUsableRows, band_per_encoding, colour, legend_outside, log_x, one_setting, order, over_seeds,
    plain_log_y, plot_per_encoding, prepare, seeds_note, subplots, title,
)
from pe_bench.results.tables import is_true, supported_rows

#: the streaming suite's evaluation modes, in the order their bars are drawn, and their hatches
STREAM_MODES: dict[str, str] = {
    "full": "",
    "window-original": "//",
    "window-slot": "\\\\",
    "sinks-original": "..",
    "sinks-slot": "xx",
}
UNKNOWN_MODE_HATCH = "--"  # a mode this list does not know (from a newer or older results file)
SINGLE_POINT_MARKERSIZE = 7  # a line of one point is only its marker


def draw_ppl_vs_length(extrapolation: pd.DataFrame) -> Figure:
    """Perplexity vs evaluation length, one line per variant (the mean over seeds, its 95 % interval
    shaded), a dashed line at the training length."""
    df = supported_rows(prepare(extrapolation, "value", "eval_len", "train_len", "stride"))
    df = df[(df["task"] == "lm") & (df["metric"] == "ppl") & df["value"].notna() & df["eval_len"].notna()
            & df["train_len"].notna()]
    if df.empty:
        raise NoUsableRows("extrapolation.csv has no supported rows with task 'lm' and metric 'ppl'")
    df, note = one_setting(df, ("train_len", "preset", "steps", "corpus_checksum", "device", "dtype"))
    modes = [m for m in ("nonoverlap", "sliding") if (df["eval_mode"] == m).any()]
    if not modes:
        raise NoUsableRows("extrapolation.csv has no 'nonoverlap' or 'sliding' perplexity rows")
    first = df.iloc[0]
    train_len = int(first["train_len"])
    # where a variant has no perplexity (learned past its table), its legend entry says from where
    failed = prepare(extrapolation, "eval_len", "train_len")
    failed = failed[(failed["task"] == "lm") & (failed["metric"] == "ppl") & (failed["train_len"] == train_len)
                    & (failed["preset"] == first["preset"])]
    failed = failed.drop(supported_rows(failed).index)
    fig, axes = subplots(len(modes), sharey=True)
    for ax, mode in zip(axes, modes):
        rows = over_seeds(df[df["eval_mode"] == mode], ["variant", "eval_len", "stride"], "value")
        first_gap = failed[failed["eval_mode"] == mode].groupby("variant")["eval_len"].min().dropna()
        labels = {variant: f"{variant} (n/a from {int(length)})" for variant, length in first_gap.items()}
        plot_per_encoding(ax, rows, "eval_len", "value", by="variant", labels=labels, marker="o", markersize=3)
        for line in ax.lines:
            if len(line.get_xdata()) == 1:  # no line to see: a marker that shows on its own
                line.set_markersize(SINGLE_POINT_MARKERSIZE)
                line.set_zorder(3)
        band_per_encoding(ax, rows, "eval_len", "value", by="variant")
        ax.axvline(train_len, color="black", linestyle="--", linewidth=1, label=f"training length {train_len}",
                   zorder=1.5)  # behind the lines: a point at L must not disappear under it
        log_x(ax, rows["eval_len"], "evaluation length (tokens)")
        plain_log_y(ax)
        strides = ", ".join(f"{s:g}" for s in sorted(set(rows["stride"].dropna())))
        ax.set_title("non-overlapping windows" if mode == "nonoverlap" else f"sliding window, stride {strides}",
                     fontsize="medium")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("perplexity (log scale; lower is better)")
    legend_outside(axes)
    title(fig, "Perplexity vs evaluation length (dashed line: the training length)",
          f"trained at {train_len} tokens, preset {first['preset']}, {first['steps']} steps; {seeds_note(df)}{note}")
    return fig


def draw_streaming(extrapolation: pd.DataFrame) -> Figure:
    """Streaming perplexity per encoding, one bar per cache policy and position scheme: the mean over
    seeds, with its 95 % interval as an error bar."""
    df = prepare(extrapolation, "value", "eval_len", "train_len")
    df = df[(df["task"] == "stream") & (df["metric"] == "ppl")]
    if supported_rows(df)["value"].notna().sum() == 0:
        raise NoUsableRows("extrapolation.csv has no supported rows with task 'stream' and metric 'ppl'")
    # unsupported rows stay: their bars are drawn as "n/a", so what could not run is visible
    df, note = one_setting(df, ("train_len", "eval_len", "preset", "steps", "corpus_checksum", "device", "dtype"))
    df = df.assign(value=df["value"].where(is_true(df["supported"])))  # an unsupported row's value is never drawn
    modes = [m for m in STREAM_MODES if (df["eval_mode"] == m).any()]
    modes += sorted(set(df["eval_mode"]) - set(modes))
    encodings = order(df["encoding"])
    width = 0.8 / len(modes)
    fig, axes = subplots(1, width=8.0)
    ax = axes[0]
    top = float(df["value"].max()) if df["value"].notna().any() else 1.0  # where the "n/a" labels go
    for i, encoding in enumerate(encodings):
        for j, mode in enumerate(modes):
            x = i - 0.4 + (j + 0.5) * width
            values = df[(df["encoding"] == encoding) & (df["eval_mode"] == mode)]
            if values["value"].notna().any():
                stats = over_seeds(values.drop_duplicates("seed", keep="last"), ["encoding"], "value").iloc[0]
                ax.bar(x, float(stats["value"]), width, color=colour(encoding), edgecolor="black",
                       linewidth=0.5, hatch=STREAM_MODES.get(mode, UNKNOWN_MODE_HATCH),
                       yerr=None if pd.isna(stats["ci95"]) else float(stats["ci95"]), capsize=2)
            else:
                ax.text(x, top * 0.02, "n/a", rotation=90, ha="center", va="bottom", fontsize="x-small")
    ax.set_xticks(range(len(encodings)), encodings)
    ax.set_ylabel("perplexity (lower is better)")
    ax.set_xlabel("encoding (bar colour) and evaluation mode (hatch)")
    ax.grid(True, axis="y", alpha=0.3)
    # the legend explains hatches, not colours (the x axis names the encodings), so it is built by hand
    handles = [Patch(facecolor="white", edgecolor="black", hatch=STREAM_MODES.get(m, UNKNOWN_MODE_HATCH), label=m)
               for m in modes]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize="small",
              title="evaluation mode")
    first = df.iloc[0]
    title(fig, "Streaming perplexity by cache policy (window, sinks) and positions (original, slot)",
          f"{first['eval_len']:g} tokens, trained at {first['train_len']:g}; n/a: not supported; "
          f"{seeds_note(df, 'error bars')}{note}")
    return fig


def draw_training_loss(training: pd.DataFrame) -> Figure:
    """Training loss vs step, one line per encoding: the mean over seeds, its 95 % interval shaded."""
    df = prepare(training, "step", "loss")
    df = df[df["step"].notna() & df["loss"].notna()]
    if df.empty:
        raise NoUsableRows("training.csv has no rows with a step and a loss")
    df, note = one_setting(df, ("train_len", "steps", "preset", "corpus_checksum"))
    fig, axes = subplots(1, width=7.5)
    ax = axes[0]
    curves = over_seeds(df, ["encoding", "step"], "loss")
    plot_per_encoding(ax, curves, "step", "loss")
    band_per_encoding(ax, curves, "step", "loss")
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss (nats per token)")
    ax.grid(True, alpha=0.3)
    legend_outside([ax])
    first = df.iloc[0]
    title(fig, "Training loss", f"length {first['train_len']}, preset {first['preset']}, {first['steps']} steps, "
                                f"{seeds_note(df)}{note}")
    return fig


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("ppl_vs_length", "extrapolation", draw_ppl_vs_length),
    FigureSpec("streaming", "extrapolation", draw_streaming),
    FigureSpec("training_loss", "training", draw_training_loss),
)
