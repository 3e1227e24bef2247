"""The attention suite's figures: entropy, sinks, weight by distance, the largest weight, and one head's maps.

Each value is the mean over the seeds run (and, where a figure says so, over layers and heads)
of the rows in attention.csv / attention_maps.csv; a table holding several settings is drawn
for the one with most rows (``one_setting``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib import colormaps

from pe_bench.figures.common import (
    DPI, FigureSpec, NoUsableRows, band_per_encoding, legend_outside, log_x, one_setting, order, over_seeds,
    plot_per_encoding, prepare, seeds_note, subplots, title,
)
from pe_bench.results.tables import supported_rows
from pe_bench.suites.attention.weights import SINK_THRESHOLD, SINKS

SETTING = ("train_len", "preset", "steps", "corpus_checksum", "device", "dtype")
PANELS_PER_ROW = 4
#: the maps' colour scale starts here: a weight below it is drawn as it
MAP_FLOOR = 1e-4


def _measured(attention: pd.DataFrame, *metrics: str) -> tuple[pd.DataFrame, str]:
    """The supported per-head rows of ``metrics``, of one setting, with numeric columns."""
    df = supported_rows(prepare(attention, "value", "eval_len", "train_len", "layer", "head", "distance"))
    df = df[df["metric"].isin(metrics) & (df["layer"] >= 0) & df["value"].notna()]
    if df.empty:
        raise NoUsableRows(f"attention.csv has no supported rows with metric {' or '.join(metrics)}")
    return one_setting(df, SETTING)


def _grid(n: int, width: float = 3.4, height: float = 2.8) -> tuple[Figure, list]:
    """A figure of ``n`` panels, PANELS_PER_ROW to a row."""
    cols = min(n, PANELS_PER_ROW)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols, height * rows + 0.8), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).flatten()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, list(axes[:n])


def _task(row: pd.Series) -> str:
    """The task whose models a row measured; '' for the language models (read back from a CSV as NaN)."""
    task = row.get("task", "")
    return task if isinstance(task, str) else ""


def _queries(row: pd.Series) -> str:
    """What the measured queries were, for a subtitle: the last L of each window, or a task's answer queries."""
    if task := _task(row):
        return f"{task} models, the queries that predict the answer"
    return f"last {row['train_len']:g} queries of each window"


def _over_heads(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The mean over heads (and layers, unless ``by`` names them) per seed, then over seeds: ``value``, ``ci95``."""
    per_seed = df.groupby([*by, "seed"], sort=False)["value"].mean().reset_index()
    return over_seeds(per_seed, by, "value")


def draw_entropy(attention: pd.DataFrame) -> Figure:
    """Per encoding: mean entropy of a query's weights vs length, one line per layer; dashed, log(visible keys)."""
    df, note = _measured(attention, "entropy_mean", "log_keys")
    encodings = order(df["encoding"])
    fig, axes = _grid(len(encodings))
    layers = sorted(df["layer"].unique())
    shades = colormaps["viridis"](np.linspace(0, 0.9, len(layers)))
    for ax, name in zip(axes, encodings):
        rows = df[df["encoding"] == name]
        entropy = _over_heads(rows[rows["metric"] == "entropy_mean"], ["layer", "eval_len"])
        for layer, shade in zip(layers, shades):
            line = entropy[entropy["layer"] == layer].sort_values("eval_len")
            ax.plot(line["eval_len"], line["value"], marker="o", markersize=3, color=shade, label=f"layer {layer:g}")
        keys = _over_heads(rows[rows["metric"] == "log_keys"], ["layer", "eval_len"])
        spans = keys.groupby("layer")["value"].apply(tuple)
        if spans.nunique() == 1:  # every layer sees every key: one reference line
            line = keys[keys["layer"] == spans.index[0]].sort_values("eval_len")
            ax.plot(line["eval_len"], line["value"], color="black", linestyle="--", linewidth=1,
                    label="log(visible keys): even weights")
        else:  # a schedule's window layers see fewer keys than its global ones: a reference line per layer
            for layer, shade in zip(layers, shades):
                line = keys[keys["layer"] == layer].sort_values("eval_len")
                ax.plot(line["eval_len"], line["value"], color=shade, linestyle="--", linewidth=1,
                        label="log(visible keys) of the layer (dashed)")
        log_x(ax, rows["eval_len"], "evaluation length")
        ax.set_title(name, fontsize="medium")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("entropy (nats)")
    legend_outside(axes)
    first = df.iloc[0]
    title(fig, "Attention entropy vs evaluation length (rising with the keys: dispersed attention)",
          f"{_queries(first)}, mean over heads; "
          f"trained at L = {first['train_len']:g}, "
          f"preset {first['preset']}; {seeds_note(df)}{note}")
    return fig


def _per_encoding_lines(attention: pd.DataFrame, panels: tuple[tuple[str, str, str], ...], what: str,
                        sharey: bool = True) -> Figure:
    """One panel per (metric, panel title, y label): the mean over layers and heads vs length, one line per encoding."""
    df, note = _measured(attention, *(metric for metric, _, _ in panels))
    fig, axes = subplots(len(panels), width=5.6, sharey=sharey)
    for ax, (metric, name, ylabel) in zip(axes, panels):
        if not (df["metric"] == metric).any():
            ax.set_visible(False)
            continue
        rows = _over_heads(df[df["metric"] == metric], ["encoding", "eval_len"])
        plot_per_encoding(ax, rows, "eval_len", "value", marker="o", markersize=3)
        band_per_encoding(ax, rows, "eval_len", "value")
        ax.axvline(float(df["train_len"].iloc[0]), color="black", linestyle="--", linewidth=1, zorder=1.5)
        log_x(ax, rows["eval_len"], "evaluation length (dashed: L)")
        ax.set_title(name, fontsize="medium")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    legend_outside(axes)
    first = df.iloc[0]
    title(fig, what, f"{_queries(first)}, mean over layers and heads; preset "
                     f"{first['preset']}; {seeds_note(df)}{note}")
    return fig


def draw_sink_mass(attention: pd.DataFrame) -> Figure:
    """The weight on the first token and on the first 4 vs length, per encoding."""
    return _per_encoding_lines(
        attention, (("sink_first", "first token", "mean attention weight"),
                    (f"sink_first{SINKS}", f"first {SINKS} tokens", "")),
        f"Attention sink mass vs evaluation length (a sink head: > {SINK_THRESHOLD} on the first token)")


def draw_max_weight(attention: pd.DataFrame) -> Figure:
    """The largest weight of a query vs length (attention fading), and the logits' spread at unseen distances."""
    return _per_encoding_lines(
        attention, (("max_weight", "largest weight of a query", "mean largest weight"),
                    ("logit_std_unseen", "logits at unseen distances (>= L)", "spread of the logits (std)")),
        "Largest attention weight vs evaluation length (falling: attention fades as keys are added)", sharey=False)


def draw_by_distance(attention: pd.DataFrame) -> Figure:
    """Per encoding: a heatmap of the share of weight per log-binned distance (rows) at each length (columns)."""
    df, note = _measured(attention, "distance_mass")
    encodings = order(df["encoding"])
    fig, axes = _grid(len(encodings), height=3.2)
    bins = sorted(df["distance"].unique())
    lengths = sorted(df["eval_len"].unique())
    image = None
    for ax, name in zip(axes, encodings):
        rows = _over_heads(df[df["encoding"] == name], ["distance", "eval_len"])
        table = rows.pivot(index="distance", columns="eval_len", values="value").reindex(index=bins, columns=lengths)
        image = ax.imshow(table.to_numpy(dtype=float), aspect="auto", origin="lower", cmap="magma", vmin=0,
                          vmax=1, interpolation="nearest")
        ax.set_xticks(range(len(lengths)), [f"{n:g}" for n in lengths], fontsize="x-small")
        ax.set_yticks(range(len(bins)), [f"{b:g}" for b in bins], fontsize="x-small")
        ax.set_title(name, fontsize="medium")
        ax.set_xlabel("evaluation length")
    axes[0].set_ylabel("distance i - j (bin start; bins double)")
    fig.colorbar(image, ax=axes, shrink=0.6, label="share of the attention weight")
    first = df.iloc[0]
    title(fig, "Attention by distance: where the weight goes as the context grows",
          f"{_queries(first)}, mean over layers and heads; preset {first['preset']}; {seeds_note(df)}{note}")
    return fig


def draw_maps(maps: pd.DataFrame) -> Figure:
    """One head's attention map per encoding at L and 8L (pooled onto a grid; log colour scale)."""
    df = supported_rows(prepare(maps, "value", "eval_len", "train_len", "layer", "head", "row", "col", "grid"))
    df = df[df["value"].notna()]
    if df.empty:
        raise NoUsableRows("attention_maps.csv has no supported rows")
    df, note = one_setting(df, (*SETTING, "layer", "head"))
    df = df[df["seed"] == df["seed"].iloc[0]]  # a map is one model's: the first seed's
    encodings, lengths = order(df["encoding"]), sorted(df["eval_len"].unique())
    fig, axes = _grid(len(encodings) * len(lengths), width=2.6, height=2.6)
    image = None
    for i, name in enumerate(encodings):
        for j, length in enumerate(lengths):
            ax = axes[i * len(lengths) + j]
            cells = df[(df["encoding"] == name) & (df["eval_len"] == length)]
            if cells.empty:  # learned positions past their table: nothing measured
                ax.axis("off")
                ax.text(0.5, 0.5, f"{name} at {length:g}:\nnot measured", ha="center", va="center", fontsize="small",
                        transform=ax.transAxes)
                continue
            size = int(cells["grid"].iloc[0])
            grid = np.full((size, size), np.nan)
            grid[cells["row"].astype(int), cells["col"].astype(int)] = cells["value"]
            image = ax.imshow(np.clip(grid, MAP_FLOOR, 1), cmap="viridis", norm=LogNorm(MAP_FLOOR, 1),
                              interpolation="nearest", extent=(0, length, length, 0))
            ax.set_title(f"{name} at {length:g}", fontsize="small")
            ax.tick_params(labelsize="x-small")
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=min(0.6, 3 / len(axes)), label="mean weight in the cell (log)")
    first = df.iloc[0]
    title(fig, f"Attention maps, layer {first['layer']:g} head {first['head']:g} (rows: queries, columns: keys)",
          f"the first {'example' if _task(first) else 'window'}, pooled onto {first['grid']:g}x{first['grid']:g} "
          f"cells; preset {first['preset']}, "
          f"seed {first['seed']}{note}")
    return fig


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("attention_entropy_vs_length", "attention", draw_entropy),
    FigureSpec("attention_sink_mass", "attention", draw_sink_mass),
    FigureSpec("attention_by_distance", "attention", draw_by_distance),
    FigureSpec("attention_max_weight", "attention", draw_max_weight),
    FigureSpec("attention_maps", "attention_maps", draw_maps),
)
