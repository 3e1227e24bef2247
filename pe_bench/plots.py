"""Figures from saved result tables: read the CSVs in a results folder, never rerun a benchmark.

``plot_results`` draws one figure per question a table answers (perplexity vs length, speed,
decode cost, shift invariance, precision, streaming, training loss) plus four figures of the
encodings themselves, computed from their pure functions. A figure whose table is missing or
has no usable rows is skipped with a reason, not an error.

Every encoding keeps one colour in every figure (``COLOURS``); RoPE's scaling variants are
shades of RoPE's red, told apart further by line style.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure  # figures without pyplot: no display, and the user's backend is untouched
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogFormatter, NullLocator

from pe_bench.encodings.alibi import alibi_slopes
from pe_bench.encodings.rope import rope_inv_freq
from pe_bench.encodings.sinusoidal import sinusoidal_table
from pe_bench.encodings.t5 import relative_position_bucket
from pe_bench.errors import InputError, PeBenchError
from pe_bench.results import (
    EXTRAPOLATION, KVCACHE, PRECISION, SCHEMAS, SHIFT, SPEED, TRAINING, Schema, atomic_target, read_table,
    is_true, supported_rows,
)

FORMATS = ("png", "svg")
DPI = 120
#: log axes cannot show 0; an exact zero (e.g. a relative encoding's shift difference) is drawn here
ZERO_FLOOR = 1e-9

#: one colour per encoding, the same in every figure (matplotlib's tab10, in registry order)
ENCODING_COLOURS: dict[str, str] = {
    "sinusoidal": "#1f77b4",  # blue
    "learned": "#ff7f0e",  # orange
    "t5": "#2ca02c",  # green
    "rope": "#d62728",  # red
    "alibi": "#9467bd",  # purple
    "nope": "#7f7f7f",  # grey
}
#: RoPE's scaling variants: darker and lighter reds, so they read as members of RoPE's family
ROPE_VARIANT_COLOURS: dict[str, str] = {
    "rope-pi": "#67000d",
    "rope-ntk": "#a50f15",
    "rope-yarn": "#f0603f",
    "rope-dynamic": "#f4a08a",
}
COLOURS: dict[str, str] = {**ENCODING_COLOURS, **ROPE_VARIANT_COLOURS}
LINESTYLES: dict[str, str | tuple[int, tuple[int, ...]]] = {
    "rope-pi": "--",
    "rope-ntk": "-.",
    "rope-yarn": ":",
    "rope-dynamic": (0, (5, 1, 1, 1, 1, 1)),
}
UNKNOWN_COLOUR = "#000000"  # a name from a results file that no longer has a palette entry

#: the streaming suite's evaluation modes, in the order their bars are drawn, and their hatches
STREAM_MODES: dict[str, str] = {
    "full": "",
    "window-original": "//",
    "window-slot": "\\\\",
    "sinks-original": "..",
    "sinks-slot": "xx",
}


class NothingToPlot(PeBenchError):
    """The results folder holds none of the result tables."""


@dataclass
class PlotReport:
    """What ``plot_results`` did: the files it wrote and the figures it skipped, with why."""

    drawn: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (figure name, reason)


class NoUsableRows(PeBenchError):
    """Raised by a ``draw_*`` function when its table has no rows it can draw; the message is the reason.

    ``plot_results`` turns it into an entry of ``PlotReport.skipped``.
    """


def colour(name: str) -> str:
    """The fixed colour of an encoding or RoPE variant (black for a name with no entry)."""
    return COLOURS.get(name, UNKNOWN_COLOUR)


def line_style(name: str) -> dict[str, object]:
    """Keyword arguments for ``Axes.plot`` that draw ``name`` in its colour and line style."""
    return {"color": colour(name), "linestyle": LINESTYLES.get(name, "-"), "label": name}


# ---------------------------------------------------------------- table helpers




def _prepare(df: pd.DataFrame, *numeric: str) -> pd.DataFrame:
    """A copy with the ``numeric`` columns as floats and every other column as plain ``str``.

    Unparsable numbers become NaN, so they are not drawn; a missing text value becomes "nan"
    (pandas 3's ``astype(str)`` keeps NaN, which breaks joins, sorting and comparisons).
    """
    df = df.copy()
    for column in df.columns:
        if column in numeric:
            df[column] = pd.to_numeric(df[column], errors="coerce")
        else:
            df[column] = df[column].map(str)
    return df


def _one_setting(df: pd.DataFrame, columns: Iterable[str]) -> tuple[pd.DataFrame, str]:
    """Keep the rows of one run setting: the one with most rows, ties going to the latest written.

    A table can hold several runs (another preset, training length, device...); drawing them
    on the same axes would mix them. Returns the rows and a note for the title ("" if the
    table held a single setting).
    """
    key = df[list(columns)].map(str).agg(" ".join, axis=1)
    counts = key.value_counts(sort=False)
    if len(counts) <= 1:
        return df, ""
    last_row = {k: i for i, k in enumerate(key)}  # later rows were written by later runs
    best = max(counts.index, key=lambda k: (counts[k], last_row[k]))
    return df[key == best], f" (the setting with most rows, of {len(counts)} in the table)"


def _prefer(df: pd.DataFrame, column: str, preferred: str) -> tuple[pd.DataFrame, str]:
    """Rows whose ``column`` is ``preferred`` if any, else the first value; and that value."""
    values = list(dict.fromkeys(df[column]))
    chosen = preferred if preferred in values else values[0]
    return df[df[column] == chosen], chosen


def _others(df: pd.DataFrame, column: str, chosen: str) -> str:
    others = sorted(set(df[column]) - {chosen})
    return f"; also in the table: {', '.join(others)}" if others else ""


def _order(names: Iterable[str]) -> list[str]:
    """Names in palette order (encodings as registered, then RoPE variants), unknown ones last."""
    rank = {name: i for i, name in enumerate(COLOURS)}
    return sorted(set(names), key=lambda n: (rank.get(n, len(rank)), n))


def _subplots(ncols: int = 1, width: float = 6.4, height: float = 4.2, **kwargs: object) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(width * ncols, height), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False, **kwargs)
    return fig, axes[0]  # (ncols,) array of Axes


def _legend_outside(axes: Iterable[Axes]) -> None:
    """One legend for all panels, right of the last one, with each label once."""
    axes = list(axes)
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    # attached to an axes (not the figure) so the constrained layout makes room for it below the title
    axes[-1].legend(list(entries.values()), list(entries), loc="upper left", bbox_to_anchor=(1.02, 1.0),
                    borderaxespad=0.0, fontsize="small")


def _x_ticks_at(ax: Axes, values: Iterable[float]) -> None:
    """Label the x axis at the measured values (64, 128, ...), not at powers of the log base."""
    values = sorted({float(v) for v in values if np.isfinite(v) and v > 0})
    if 0 < len(values) <= 10:
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.xaxis.set_minor_locator(NullLocator())


def _plain_log_y(ax: Axes) -> None:
    """A log y axis labelled 6, 10, 20 rather than 6×10^0: perplexities and milliseconds read better."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1.2, 0.4)))


def _title(fig: Figure, what: str, detail: str) -> None:
    """The figure's title: what it shows, then on a second line which data it shows."""
    fig.suptitle(f"{what}\n{detail}", fontsize="medium")


# ---------------------------------------------------------------- figures from result tables


def draw_ppl_vs_length(extrapolation: pd.DataFrame) -> Figure:
    """Perplexity vs evaluation length, one line per variant, a dashed line at the training length."""
    df = supported_rows(_prepare(extrapolation, "value", "eval_len", "train_len", "stride"))
    df = df[(df["task"] == "lm") & (df["metric"] == "ppl") & df["value"].notna() & df["eval_len"].notna()
            & df["train_len"].notna()]
    if df.empty:
        raise NoUsableRows("extrapolation.csv has no supported rows with task 'lm' and metric 'ppl'")
    df, note = _one_setting(df, ("train_len", "preset", "steps", "seed", "corpus_checksum", "device", "dtype"))
    modes = [m for m in ("nonoverlap", "sliding") if (df["eval_mode"] == m).any()]
    if not modes:
        raise NoUsableRows("extrapolation.csv has no 'nonoverlap' or 'sliding' perplexity rows")
    first = df.iloc[0]
    train_len = int(first["train_len"])
    # where a variant has no perplexity (learned past its table), its legend entry says from where
    failed = _prepare(extrapolation, "eval_len", "train_len")
    failed = failed[(failed["task"] == "lm") & (failed["metric"] == "ppl") & (failed["train_len"] == train_len)
                    & (failed["preset"] == first["preset"])]
    failed = failed.drop(supported_rows(failed).index)
    fig, axes = _subplots(len(modes), sharey=True)
    for ax, mode in zip(axes, modes):
        rows = df[df["eval_mode"] == mode]
        for variant in _order(rows["variant"]):
            line = rows[rows["variant"] == variant].sort_values("eval_len")
            style = line_style(variant)
            gaps = failed.loc[(failed["variant"] == variant) & (failed["eval_mode"] == mode), "eval_len"]
            if len(gaps):
                style["label"] = f"{variant} (n/a from {int(gaps.min())})"
            ax.plot(line["eval_len"], line["value"], marker="o", markersize=3, **style)
        ax.axvline(train_len, color="black", linestyle="--", linewidth=1, label=f"training length {train_len}")
        ax.set_xscale("log", base=2)
        _x_ticks_at(ax, rows["eval_len"])
        _plain_log_y(ax)
        ax.set_xlabel("evaluation length (tokens)")
        strides = ", ".join(f"{s:g}" for s in sorted(set(rows["stride"].dropna())))
        ax.set_title("non-overlapping windows" if mode == "nonoverlap" else f"sliding window, stride {strides}",
                     fontsize="medium")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("perplexity (log scale; lower is better)")
    _legend_outside(axes)
    _title(fig, "Perplexity vs evaluation length (dashed line: the training length)",
           f"trained at {train_len} tokens, preset {first['preset']}, {first['steps']} steps{note}")
    return fig


def draw_speed_ratio(speed: pd.DataFrame) -> Figure:
    """Step time relative to NoPE vs sequence length, one panel per mode, best backend per point."""
    df = supported_rows(_prepare(speed, "ms_median", "ratio_vs_nope", "seq_len"))
    df = df[df["ratio_vs_nope"].notna() & df["ms_median"].notna()]
    if df.empty:
        raise NoUsableRows("speed.csv has no supported rows with a ratio_vs_nope")
    df, note = _one_setting(df, ("preset", "batch_size", "device", "dtype", "threads"))
    backends = sorted(set(df["backend"]))
    # for each point keep the backend that ran fastest: the figure compares encodings, not kernels
    df = df.loc[df.groupby(["encoding", "mode", "seq_len"])["ms_median"].idxmin()]
    modes = sorted(set(df["mode"]), key=lambda m: (m != "inference", m))
    fig, axes = _subplots(len(modes), sharey=True)
    for ax, mode in zip(axes, modes):
        rows = df[df["mode"] == mode]
        for encoding in _order(rows["encoding"]):
            line = rows[rows["encoding"] == encoding].sort_values("seq_len")
            ax.plot(line["seq_len"], line["ratio_vs_nope"], marker="o", markersize=3, **line_style(encoding))
        ax.axhline(1.0, color="black", linewidth=1, linestyle=":", label="same time as NoPE")
        ax.set_xscale("log", base=2)
        _x_ticks_at(ax, rows["seq_len"])
        ax.set_xlabel("sequence length (tokens)")
        ax.set_title(f"{mode} step", fontsize="medium")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("step time / NoPE's step time (×)")
    _legend_outside(axes)
    first = df.iloc[0]
    how = f"best of backends {', '.join(backends)} per point" if len(backends) > 1 else f"backend {backends[0]}"
    _title(fig, "Step time relative to NoPE (below 1: faster than NoPE)",
           f"{how}; batch {first['batch_size']}, {first['device']}, {first['dtype']}{note}")
    return fig


def draw_kvcache_decode(kvcache: pd.DataFrame) -> Figure:
    """Per-token decode time with and without a KV cache vs context length (full cache)."""
    df = supported_rows(_prepare(kvcache, "cached_ms_per_token", "uncached_ms_per_token", "context_len"))
    df = df[df["policy"] == "full"]
    if df.empty:
        raise NoUsableRows("kvcache.csv has no supported rows with policy 'full'")
    all_backends = df
    df, backend = _prefer(df, "backend", "sdpa")
    df, note = _one_setting(df, ("preset", "device", "dtype", "threads", "positions"))
    fig, axes = _subplots(1, width=7.5)
    ax = axes[0]
    for encoding in _order(df["encoding"]):
        line = df[df["encoding"] == encoding].sort_values("context_len")
        ax.plot(line["context_len"], line["cached_ms_per_token"], marker="o", markersize=3, color=colour(encoding),
                linestyle="-", label=encoding)
        ax.plot(line["context_len"], line["uncached_ms_per_token"], marker="s", markersize=3, color=colour(encoding),
                linestyle="--")
    # a legend entry for what solid and dashed mean, drawn in neutral black
    ax.plot([], [], color="black", linestyle="-", label="cached (solid)")
    ax.plot([], [], color="black", linestyle="--", label="uncached: full forward (dashed)")
    ax.set_xscale("log", base=2)
    _x_ticks_at(ax, df["context_len"])
    _plain_log_y(ax)
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("time per generated token (ms, log scale)")
    ax.grid(True, which="both", alpha=0.3)
    _legend_outside([ax])
    first = df.iloc[0]
    _title(fig, "Time to decode one token: full KV cache vs none",
           f"backend {backend}{_others(all_backends, 'backend', backend)}; {first['device']}, {first['dtype']}{note}")
    return fig


def draw_shift_invariance(shift: pd.DataFrame) -> Figure:
    """Max logit difference when the same tokens start at position c instead of 0, vs c."""
    df = supported_rows(_prepare(shift, "offset", "max_abs_logit_diff"))
    df = df[df["max_abs_logit_diff"].notna()]
    if df.empty:
        raise NoUsableRows("shift.csv has no supported rows")
    all_backends = df
    df, backend = _prefer(df, "backend", "sdpa")
    df, note = _one_setting(df, ("seq_len", "preset", "device", "dtype", "threads"))
    clipped = bool((df["max_abs_logit_diff"] <= 0).any())
    fig, axes = _subplots(1, width=7.5)
    ax = axes[0]
    for encoding in _order(df["encoding"]):
        line = df[df["encoding"] == encoding].sort_values("offset")
        style = line_style(encoding)
        if (line["max_abs_logit_diff"] <= 0).all():
            style["label"] = f"{encoding} (exactly 0)"  # these lines lie on top of each other at the floor
        ax.plot(line["offset"], line["max_abs_logit_diff"].clip(lower=ZERO_FLOOR), marker="o", markersize=3,
                **style)
    ax.set_xscale("log")
    _x_ticks_at(ax, df["offset"])
    ax.set_yscale("log")
    ax.set_xlabel("offset c: positions c .. c+T-1 instead of 0 .. T-1")
    ax.set_ylabel("max |logit difference|" + (f" (0 drawn at {ZERO_FLOOR:g})" if clipped else ""))
    ax.grid(True, which="major", alpha=0.3)
    _legend_outside([ax])
    first = df.iloc[0]
    _title(fig, "Shift invariance: the same tokens at positions c.. instead of 0.. (lower: more invariant)",
           f"T = {first['seq_len']}, backend {backend}{_others(all_backends, 'backend', backend)}{note}")
    return fig


def draw_precision(precision: pd.DataFrame) -> Figure:
    """Error against float64 vs position, one panel per dtype, one line per (encoding, quantity)."""
    df = _prepare(precision, "position", "abs_error")
    df = df[df["position"].notna()]
    if df["abs_error"].isna().all():
        raise NoUsableRows("precision.csv has no abs_error values")
    df, note = _one_setting(df, ("device",))
    order = {"float32": 0, "bfloat16": 1, "float16": 2}
    dtypes = sorted(set(df["dtype"]), key=lambda d: (order.get(d, len(order)), d))
    fig, axes = _subplots(len(dtypes), width=5.0, sharey=True)
    clipped = False
    for ax, dtype in zip(axes, dtypes):
        rows = df[df["dtype"] == dtype]
        missing = int(rows["abs_error"].isna().sum())
        clipped |= bool((rows["abs_error"] <= 0).any())
        for encoding in _order(rows["encoding"]):
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
    _legend_outside(axes)
    _title(fig, "Precision at large positions: error against float64",
           "solid: angles in float64, then rounded to the dtype (pe-bench); dashed: position and angle computed "
           "in the dtype itself" + note)
    return fig


def draw_streaming(extrapolation: pd.DataFrame) -> Figure:
    """Streaming perplexity per encoding, one bar per cache policy and position scheme."""
    df = _prepare(extrapolation, "value", "eval_len", "train_len")
    df = df[(df["task"] == "stream") & (df["metric"] == "ppl")]
    if supported_rows(df)["value"].notna().sum() == 0:
        raise NoUsableRows("extrapolation.csv has no supported rows with task 'stream' and metric 'ppl'")
    df, note = _one_setting(df, ("train_len", "eval_len", "preset", "steps", "seed", "corpus_checksum", "device",
                                 "dtype"))
    ok = is_true(df["supported"])
    df = df.assign(value=df["value"].where(ok))  # an unsupported row's value is never drawn
    modes = [m for m in STREAM_MODES if (df["eval_mode"] == m).any()]
    modes += sorted(set(df["eval_mode"]) - set(modes))
    encodings = _order(df["encoding"])
    width = 0.8 / len(modes)
    fig, axes = _subplots(1, width=8.0)
    ax = axes[0]
    top = float(df["value"].max()) if df["value"].notna().any() else 1.0  # where the "n/a" labels go
    for i, encoding in enumerate(encodings):
        for j, mode in enumerate(modes):
            x = i - 0.4 + (j + 0.5) * width
            value = df.loc[(df["encoding"] == encoding) & (df["eval_mode"] == mode), "value"]
            if value.notna().any():
                ax.bar(x, float(value.dropna().iloc[-1]), width, color=colour(encoding), edgecolor="black",
                       linewidth=0.5, hatch=STREAM_MODES.get(mode, "--"))
            else:
                ax.text(x, top * 0.02, "n/a", rotation=90, ha="center", va="bottom", fontsize="x-small")
    ax.set_xticks(range(len(encodings)), encodings)
    ax.set_ylabel("perplexity (lower is better)")
    ax.set_xlabel("encoding (bar colour) and evaluation mode (hatch)")
    ax.grid(True, axis="y", alpha=0.3)
    handles = [Patch(facecolor="white", edgecolor="black", hatch=STREAM_MODES.get(m, "--"), label=m) for m in modes]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize="small",
              title="evaluation mode")
    first = df.iloc[0]
    _title(fig, "Streaming perplexity by cache policy (window, sinks) and positions (original, slot)",
           f"{first['eval_len']:g} tokens, trained at {first['train_len']:g}; n/a: not supported{note}")
    return fig


def draw_training_loss(training: pd.DataFrame) -> Figure:
    """Training loss vs step, one line per encoding."""
    df = _prepare(training, "step", "loss")
    df = df[df["step"].notna() & df["loss"].notna()]
    if df.empty:
        raise NoUsableRows("training.csv has no rows with a step and a loss")
    df, note = _one_setting(df, ("train_len", "steps", "seed", "preset", "corpus_checksum"))
    fig, axes = _subplots(1, width=7.5)
    ax = axes[0]
    for encoding in _order(df["encoding"]):
        line = df[df["encoding"] == encoding].sort_values("step")
        ax.plot(line["step"], line["loss"], **line_style(encoding))
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss (nats per token)")
    ax.grid(True, alpha=0.3)
    _legend_outside([ax])
    first = df.iloc[0]
    _title(fig, "Training loss", f"length {first['train_len']}, preset {first['preset']}, {first['steps']} steps, "
                                 f"seed {first['seed']}{note}")
    return fig


# ---------------------------------------------------------------- figures of the encodings themselves


def draw_encoding_sinusoidal() -> Figure:
    """The sinusoidal table as a heatmap: positions down, dimensions across."""
    table = sinusoidal_table(256, 64).numpy()  # (positions, dims)
    fig, axes = _subplots(1, width=5.6, height=5.0)
    ax = axes[0]
    image = ax.imshow(table, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    fig.colorbar(image, ax=ax, label="PE[p, i]")
    ax.set_xlabel("dimension i (even: sin, odd: cos)")
    ax.set_ylabel("position p")
    ax.set_title("Sinusoidal encoding, d_model 64, base 10000")
    return fig


def rope_relative_upper_bound(distances: torch.Tensor, head_dim: int = 64, base: float = 10000.0) -> torch.Tensor:
    """RoFormer's bound on |q·k| after rotation, up to the factor max|h_i|: mean_j |sum_{k<j} e^{i d theta_k}|.

    It decays (with oscillations) as the distance d grows: the long-term decay property.
    """
    angles = distances.double()[:, None] * rope_inv_freq(head_dim, base)[None, :]  # (D, head_dim/2)
    partial_sums = torch.polar(torch.ones_like(angles), angles).cumsum(dim=-1)  # S_j for j = 1 .. d/2
    return partial_sums.abs().mean(dim=-1)


def draw_encoding_qk_decay(max_distance: int = 512, head_dim: int = 64) -> Figure:
    """Long-term decay: RoPE's relative upper bound and the sinusoidal dot product vs distance."""
    distance = torch.arange(max_distance + 1)
    rope = rope_relative_upper_bound(distance, head_dim)
    rope = rope / rope[0]
    pe = sinusoidal_table(max_distance + 1, head_dim).double()  # (d+1, head_dim)
    sinusoidal = (pe @ pe[0]) / (pe[0] @ pe[0])
    fig, axes = _subplots(1)
    ax = axes[0]
    ax.plot(distance, rope, color=colour("rope"), label="rope: relative upper bound on |q·k| (RoFormer)")
    ax.plot(distance, sinusoidal, color=colour("sinusoidal"), label="sinusoidal: <PE[p], PE[p+d]>")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("distance d (positions)")
    ax.set_ylabel("value / its value at d = 0")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(f"Long-term decay with distance (head_dim / d_model {head_dim}, base 10000)", fontsize="medium")
    return fig


def draw_encoding_t5_buckets(size: int = 64) -> Figure:
    """T5's bucket of (key - query) over a grid of positions, causal and bidirectional."""
    positions = torch.arange(size)
    relative = positions[None, :] - positions[:, None]  # (query, key): key - query
    fig, axes = _subplots(2, width=5.0, height=4.4)
    for ax, bidirectional in zip(axes, (False, True)):
        buckets = relative_position_bucket(relative, bidirectional).numpy()
        image = ax.imshow(buckets, cmap="viridis", interpolation="nearest", origin="upper")
        fig.colorbar(image, ax=ax, label="bucket index")
        ax.set_xlabel("key position j")
        ax.set_ylabel("query position i")
        ax.set_title("bidirectional (16 buckets per side)" if bidirectional else
                     "causal (32 buckets; keys after i share bucket 0)", fontsize="medium")
    fig.suptitle("T5 relative position buckets of j - i (32 buckets, max_distance 128)")
    return fig


def draw_encoding_alibi_bias(n_heads: int = 8, max_distance: int = 64) -> Figure:
    """ALiBi's bias -m_h · distance for each head."""
    slopes = alibi_slopes(n_heads)
    distance = np.arange(max_distance + 1)
    # shades of ALiBi's purple: head 1 (steepest) darkest
    shades = LinearSegmentedColormap.from_list("alibi", ["#e3d7f0", colour("alibi"), "#2d1b4e"])
    fig, axes = _subplots(1)
    ax = axes[0]
    for h, slope in enumerate(slopes.tolist()):
        ax.plot(distance, -slope * distance, color=shades(1 - h / max(n_heads - 1, 1) * 0.85),
                label=f"head {h + 1}: m = 1/{1 / slope:g}")
    ax.set_xlabel("distance |i - j| (positions)")
    ax.set_ylabel("bias added to the logit")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", ncols=2)
    ax.set_title(f"ALiBi bias per head ({n_heads} heads, alibi_slopes({n_heads}))")
    return fig


# ---------------------------------------------------------------- the entry point


@dataclass(frozen=True)
class _FigureSpec:
    name: str
    schema: Schema | None  # None: drawn from the encodings' pure functions, no table needed
    draw: Callable[..., Figure]


FIGURES: tuple[_FigureSpec, ...] = (
    _FigureSpec("ppl_vs_length", EXTRAPOLATION, draw_ppl_vs_length),
    _FigureSpec("speed_ratio", SPEED, draw_speed_ratio),
    _FigureSpec("kvcache_decode", KVCACHE, draw_kvcache_decode),
    _FigureSpec("shift_invariance", SHIFT, draw_shift_invariance),
    _FigureSpec("precision", PRECISION, draw_precision),
    _FigureSpec("streaming", EXTRAPOLATION, draw_streaming),
    _FigureSpec("training_loss", TRAINING, draw_training_loss),
    _FigureSpec("encoding_sinusoidal", None, draw_encoding_sinusoidal),
    _FigureSpec("encoding_qk_decay", None, draw_encoding_qk_decay),
    _FigureSpec("encoding_t5_buckets", None, draw_encoding_t5_buckets),
    _FigureSpec("encoding_alibi_bias", None, draw_encoding_alibi_bias),
)
FIGURE_NAMES = tuple(spec.name for spec in FIGURES)


def _save_atomic(fig: Figure, path: Path, fmt: str) -> None:
    """Save ``fig`` to a temporary file next to ``path`` and rename it over ``path``."""
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format=fmt)


def plot_results(results: Path, out: Path | None = None, fmt: str = "png") -> PlotReport:
    """Draw every figure the result tables in ``results`` allow; never reruns a benchmark.

    Args:
        results: a folder holding some of speed.csv, kvcache.csv, shift.csv, precision.csv,
            extrapolation.csv and training.csv, as the suites write them.
        out: the folder for the figures (created if missing); default ``results / "plots"``.
        fmt: "png" or "svg"; each figure is written as ``<name>.<fmt>`` (names in ``FIGURE_NAMES``).

    Returns:
        The files written and, for each figure not drawn, its name and the reason.

    Raises:
        InputError: an unknown ``fmt``, a ``results`` that is not a folder, ``out`` that is a
            file, or a table that is not a valid CSV of its schema (left untouched).
        NothingToPlot: ``results`` holds none of the tables.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown plot format '{fmt}'; valid: {', '.join(FORMATS)}")
    results = Path(results)
    if not results.is_dir():
        raise InputError(f"results folder {results} does not exist or is not a folder")
    out = results / "plots" if out is None else Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"plot folder {out} exists and is not a folder")

    present = [schema for schema in SCHEMAS.values() if (results / schema.filename).is_file()]
    if not present:
        expected = ", ".join(schema.filename for schema in SCHEMAS.values())
        raise NothingToPlot(f"nothing to plot in {results}: expected at least one of {expected}")
    # read every table before drawing anything, so a bad table stops the run with no figure half-made
    tables = {schema.name: read_table(results / schema.filename, schema) for schema in present}
    return draw_figures(tables, out, fmt, source=str(results))


def draw_figures(tables: dict[str, pd.DataFrame], out: Path, fmt: str = "png", source: str = "the run") -> PlotReport:
    """Draw every figure ``tables`` (table name -> rows) allow into ``out``.

    ``compare`` and ``run`` pass the rows of the run they just made, so the figures show the
    same setting as the summary even in a folder that holds other runs too; ``source`` names
    where the tables came from in the reasons for skipped figures.
    """
    out.mkdir(parents=True, exist_ok=True)
    report = PlotReport()
    for spec in FIGURES:
        if spec.schema is not None and spec.schema.name not in tables:
            report.skipped.append((spec.name, f"no {spec.schema.filename} in {source}"))
            continue
        args = () if spec.schema is None else (tables[spec.schema.name],)
        try:
            fig = spec.draw(*args)  # a plain Figure, freed with its last reference: nothing to close
            path = out / f"{spec.name}.{fmt}"
            _save_atomic(fig, path, fmt)
            report.drawn.append(path)
        except NoUsableRows as skip:
            report.skipped.append((spec.name, str(skip)))
    return report
