"""The tasks suite's figures: accuracy vs length (one panel per task), passkey accuracy by depth,
flip-flop's error rate per mix.

A randomized-positions variant (``<encoding>+rand``) is drawn in its encoding's colour with a
dashed line, and the same model asked at randomized positions (``+rand@rand``) dash-dotted. A
model that did not learn its task at L is drawn with a dotted line and hollow markers: its longer
lengths say nothing about length generalization. The legend has one entry
per encoding and variant, in its learned style whatever the panel, and one entry for the
not-learned style; a variant learned on one task and not on another is never listed twice.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pe_bench.figures.common import (
    FigureSpec, NoUsableRows, colour, legend_outside, log_x, one_setting, order, prepare, subplots, title,
)
from pe_bench.results.tables import is_true
from pe_bench.suites.tasks.report import headline_rows
from pe_bench.suites.tasks.spec import AT_RAND, RAND
from pe_bench.suites.tasks.generators import TASKS

SETTING = ("preset", "device", "dtype")  # every seed of that setting: lines are means over seeds


def _usable(tasks: pd.DataFrame) -> pd.DataFrame:
    df = prepare(tasks, "accuracy", "eval_len", "train_len")
    df = df.assign(accuracy=df["accuracy"].where(is_true(df["supported"])), learned=is_true(df["learned"]))
    return df[df["eval_len"].notna() & df["train_len"].notna()]


NOT_LEARNED = "dotted, hollow: not learned at L"
#: passkey heatmaps per row of the depth figure (sixteen in one row made it 5300 pixels wide)
PANELS_PER_ROW = 6


def _seeds(df: pd.DataFrame) -> str:
    """'seed 0' or 'seeds 0, 1, 2': which seeds the lines are means over."""
    seeds = sorted({int(s) for s in pd.to_numeric(df["seed"], errors="coerce").dropna()})
    return ("seed " if len(seeds) == 1 else "seeds ") + (", ".join(map(str, seeds)) or "?")


def _style(variant: str, encoding: str, learned: bool) -> dict[str, object]:
    """The line of ``variant``; a not-learned one is left out of the legend (its ``_`` label), which
    lists each variant once, in its learned style, and the not-learned style once (NOT_LEARNED)."""
    dashes = "-." if variant.endswith(AT_RAND) else "--" if variant.endswith(RAND) else "-"
    return {"color": colour(encoding), "linestyle": ":" if not learned else dashes,
            "marker": "o", "markersize": 4, "markerfacecolor": colour(encoding) if learned else "white",
            "label": variant if learned else f"_{variant} (not learned)"}


def draw_accuracy_vs_length(tasks: pd.DataFrame) -> Figure:
    """Accuracy vs evaluation length, one panel per task, one line per encoding and variant."""
    df = _usable(tasks)
    if not df["accuracy"].notna().any():
        raise NoUsableRows("tasks.csv has no supported rows with an accuracy")
    df, note = one_setting(df, SETTING)
    names = [t for t in TASKS if (df["task"] == t).any()] + sorted(set(df["task"]) - set(TASKS))
    fig, axes = subplots(len(names), width=4.8, sharey=True)
    listed: set[str] = set()  # variants the legend already has
    any_not_learned = False
    for ax, task in zip(axes, names):
        rows = headline_rows(df[df["task"] == task])
        for encoding, variant, line, learned in _lines(rows):
            ax.plot(line["eval_len"], line["accuracy"], **_style(variant, encoding, learned))
            if not learned and variant not in listed and not _learned_anywhere(df, variant):
                ax.plot([], [], **_style(variant, encoding, True))  # its legend entry, in its colour
            listed.add(variant)
            any_not_learned |= not learned
        train_len = float(rows["train_len"].iloc[0])
        ax.axvline(train_len, color="black", linestyle="--", linewidth=1, label="training length L")
        log_x(ax, rows["eval_len"], "evaluation length (bytes)")
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(f"{task} (L = {train_len:g})", fontsize="medium")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("accuracy (greedy answers)")
    if any_not_learned:
        _not_learned_entry(axes[-1])
    legend_outside(axes)
    title(fig, "Task accuracy vs evaluation length\n+rand dashed, +rand@rand dash-dot, not learned at L dotted",
          f"preset {df['preset'].iloc[0]}, {_seeds(df)}{note}")
    return fig


def _lines(rows: pd.DataFrame) -> Iterator[tuple[str, str, pd.DataFrame, bool]]:
    """(encoding, variant, its mean accuracy by evaluation length, learned) for each line of a panel,
    in the encodings' order; a variant with no accuracy at any length (a schedule the task model
    cannot hold) has no line, and so no legend entry."""
    mean = rows.groupby(["encoding", "variant", "eval_len"], sort=False).agg(
        accuracy=("accuracy", "mean"), learned=("learned", "all")).reset_index()
    for encoding in order(mean["encoding"]):
        for variant in sorted(set(mean.loc[mean["encoding"] == encoding, "variant"])):
            line = mean[mean["variant"] == variant].sort_values("eval_len")
            if line["accuracy"].notna().any():
                yield encoding, variant, line, bool(line["learned"].all())


def _not_learned_entry(ax: Axes) -> None:
    """The legend's one entry for the not-learned style."""
    ax.plot([], [], color="grey", linestyle=":", marker="o", markersize=4, markerfacecolor="white", label=NOT_LEARNED)


def _learned_anywhere(df: pd.DataFrame, variant: str) -> bool:
    """True if ``variant`` learned at least one task (its learned line then gives its legend entry)."""
    rows = df[df["variant"] == variant]
    return bool(rows.groupby("task")["learned"].all().any())


def draw_passkey_depth(tasks: pd.DataFrame) -> Figure:
    """Passkey accuracy by evaluation length (columns) and depth (rows), one heatmap per encoding and variant."""
    df = _usable(tasks)
    df = df[(df["task"] == "passkey") & (df["depth"] != "nan") & (df["depth"] != "")]
    if df.empty:
        raise NoUsableRows("tasks.csv has no passkey rows with a depth")
    df, note = one_setting(df, SETTING)
    depths = [d for d in TASKS["passkey"].depths or {} if (df["depth"] == d).any()]
    depths += sorted(set(df["depth"]) - set(depths))
    lengths = sorted(df["eval_len"].unique())
    measured = set(df.loc[df["accuracy"].notna(), "variant"])  # a schedule the task model cannot hold has none
    variants = [v for e in order(df["encoding"]) for v in sorted(set(df.loc[df["encoding"] == e, "variant"]))
                if v in measured]
    if not variants:
        raise NoUsableRows("tasks.csv has no supported passkey rows")
    fig, axes = subplots(len(variants), width=2.6, height=2.8, per_row=PANELS_PER_ROW, sharey=True)
    image = None
    for ax, variant in zip(axes, variants):
        rows = df[df["variant"] == variant]
        grid = rows.pivot_table(index="depth", columns="eval_len", values="accuracy", aggfunc="last", dropna=False)
        grid = grid.reindex(index=depths, columns=lengths)
        image = ax.imshow(grid.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis", aspect="auto")
        for (i, j), value in np.ndenumerate(grid.to_numpy(dtype=float)):
            ax.text(j, i, "n/a" if np.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize="x-small",
                    color="black" if np.isnan(value) or value >= 0.5 else "white")  # n/a on the blank cell
        ax.set_xticks(range(len(lengths)), [f"{n:g}" for n in lengths], fontsize="x-small")
        ax.set_yticks(range(len(depths)), depths)
        learned = bool(rows["learned"].all())
        ax.set_title(variant + ("" if learned else "\n(not learned at L)"), fontsize="small")
        ax.set_xlabel("length (bytes)", fontsize="small")
    for ax in axes[::PANELS_PER_ROW]:
        ax.set_ylabel("depth of the pass key line")
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8, label="accuracy")
    title(fig, "Passkey accuracy by evaluation length and depth", f"preset {df['preset'].iloc[0]}{note}")
    return fig


def draw_flipflop_errors(tasks: pd.DataFrame) -> Figure:
    """Flip-flop's error rate per read (1 - accuracy) by evaluation length, one panel per mix:
    Liu et al. 2023's "glitches", rare on the training mix and growing where reads sit far from
    their write (the sparse mix)."""
    df = _usable(tasks)
    df = df[(df["task"] == "flipflop") & df["accuracy"].notna()]
    if df.empty:
        raise NoUsableRows("tasks.csv has no flipflop rows with an accuracy")
    df, note = one_setting(df, SETTING)
    mixes = [m for m in TASKS["flipflop"].depths or {} if (df["depth"] == m).any()]
    fig, axes = subplots(len(mixes), width=3.6, sharey=True)
    for ax, mix in zip(axes, mixes):
        rows = df[df["depth"] == mix]
        for encoding, variant, line, learned in _lines(rows):
            ax.plot(line["eval_len"], 1 - line["accuracy"], **_style(variant, encoding, learned))
        ax.axvline(float(rows["train_len"].iloc[0]), color="black", linestyle="--", linewidth=1,
                   label="training length L")
        log_x(ax, rows["eval_len"], "evaluation length (bytes)")
        ax.set_title(f"{mix} mix" + (" (trained on)" if mix in (TASKS["flipflop"].headline or ()) else ""),
                     fontsize="medium")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("error rate per read (1 - accuracy)")
    if not df["learned"].all():
        _not_learned_entry(axes[-1])
    legend_outside(axes)
    title(fig, "Flip-flop: errors per read by mix and length (dotted, hollow: not learned on the training mix)",
          f"preset {df['preset'].iloc[0]}, {_seeds(df)}{note}")
    return fig


FIGURES = (
    FigureSpec("task_accuracy_vs_length", "tasks", draw_accuracy_vs_length),
    FigureSpec("passkey_depth", "tasks", draw_passkey_depth),
    FigureSpec("flipflop_errors", "tasks", draw_flipflop_errors),
)
