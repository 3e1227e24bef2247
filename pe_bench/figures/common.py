"""What every figure shares: each encoding's colour and line style, table helpers, axes helpers
(a little over 300 lines because every figure module draws on all three).

Colours come from the encoding registry, so a new encoding gets its own colour without an edit
here: base encodings take matplotlib's tab10 colours in registry order (grey kept for the
baseline, the encoding of family ``NONE``), a variant (``variant_of``) takes a shade of its
parent's colour and a dashed or dotted line. A name the registry does not know (a plugin, a row
from an older results file) gets a colour picked by a hash of the name, from colours no
registered encoding uses, so it is the same in every run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure  # figures without pyplot: no display, and the user's backend is untouched
from matplotlib.ticker import FuncFormatter, LogFormatter, NullLocator

from pe_bench.encodings import ENCODINGS, ORIGINS, Family
from pe_bench.encodings.plugins import BUILT_IN
from pe_bench.errors import PeBenchError
from pe_bench.results.files import atomic_target
from pe_bench.stats import ONE_SEED, aggregate

DPI = 120
#: log axes cannot show 0; an exact zero (e.g. a relative encoding's shift difference) is drawn here
ZERO_FLOOR = 1e-9

LineStyle = str | tuple[int, tuple[int, ...]]

GREY = "#7f7f7f"  # tab10's grey: kept for the baseline, so every other line stands out against it
#: colours for base encodings, in registry order: tab10 without its grey, then Dark2's seven others; names
#: the registry does not know take the ones left over (some stay free, so plugins do not all share one).
PALETTE: tuple[str, ...] = (
    *(c for c in (to_hex(rgb) for rgb in matplotlib.colormaps["tab10"].colors) if c != GREY),
    "#1b9e77", "#e7298a", "#e6ab02", "#66a61e",  # Dark2's teal, magenta, mustard, leaf green
    "#a6761d", "#d95f02", "#7570b3",  # ochre, burnt orange, slate blue
    "#6a3d9a", "#b15928", "#fb9a99", "#a6cee3", "#b2df8a",  # Paired's purple, brown, pink, pale blue, pale green
)
#: a variant's line style, by its rank among its parent's variants (base encodings are solid)
VARIANT_LINESTYLES: tuple[LineStyle, ...] = ("--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (3, 1, 1, 1, 1, 1, 1, 1)),
                                             (0, (1, 1)))
#: the furthest a variant's colour moves from its parent's towards black or white: far enough to
#: tell the shades apart, near enough that they still read as the parent's family
SHADE_RANGE = 0.6


@dataclass(frozen=True)
class FigureSpec:
    """A figure: its file name (without extension), the result table it draws, and how.

    ``table`` is the name of the table it draws (as its schema names it) and ``draw`` takes that table's
    rows; for a figure drawn from the encodings' formulas ``table`` is None and ``draw`` takes
    no argument.
    """

    name: str
    table: str | None
    draw: Callable[..., Figure]


class NoUsableRows(PeBenchError):
    """Raised by a ``draw_*`` function when its table has no rows it can draw; the message is the reason.

    ``draw_figures`` turns it into an entry of ``PlotReport.skipped``.
    """


# ---------------------------------------------------------------- colours and line styles


def _shade(colour: str, amount: float) -> str:
    """``colour`` moved ``amount`` of the way to white (amount > 0) or black (amount < 0); hue unchanged."""
    rgb = np.array(to_rgb(colour))
    return to_hex(rgb + (1.0 - rgb) * amount if amount > 0 else rgb * (1.0 + amount))


def _shade_amounts(n: int) -> list[float]:
    """``n`` distinct shade amounts: the first half darker (darkest first), the rest lighter."""
    darker = n // 2
    lighter = n - darker
    return ([-SHADE_RANGE * (darker - i) / darker for i in range(darker)]
            + [SHADE_RANGE * (i + 1) / lighter for i in range(lighter)])


def _registered_styles() -> dict[str, tuple[str, LineStyle]]:
    """name -> (colour, line style) for every built-in encoding, derived from the registry.

    A user's plugin is left out on purpose: it is registered only in the processes that load
    it, so a palette slot would depend on the process; it gets a colour from its name instead.
    Not cached: it is cheap next to drawing.
    """
    styles: dict[str, tuple[str, LineStyle]] = {}
    grey_free = True
    free = iter(PALETTE)
    built_in = {name: cls for name, cls in ENCODINGS.items() if ORIGINS.get(name) is BUILT_IN}
    for name, cls in built_in.items():
        if cls.variant_of is not None:
            continue
        if cls.family is Family.NONE and grey_free:
            styles[name], grey_free = (GREY, "-"), False
        else:
            styles[name] = (next(free, None) or _hashed(name, PALETTE), "-")  # past the palette: colours repeat
    parents = dict.fromkeys(cls.variant_of for cls in built_in.values() if cls.variant_of is not None)
    for parent in parents:
        variants = [name for name, cls in built_in.items() if cls.variant_of == parent]
        base = styles[parent][0] if parent in styles else _hashed(parent, _unknown_palette(styles))
        for i, (name, amount) in enumerate(zip(variants, _shade_amounts(len(variants)))):
            styles[name] = (_shade(base, amount), VARIANT_LINESTYLES[i % len(VARIANT_LINESTYLES)])
    return styles


def _hashed(name: str, palette: Iterable[str]) -> str:
    """A colour of ``palette`` chosen by a hash of ``name``: the same in every process.

    hashlib, not ``hash()``: Python salts ``hash()`` of a string per process.
    """
    palette = list(palette)
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return palette[int.from_bytes(digest[:8], "big") % len(palette)]


def _unknown_palette(styles: Mapping[str, tuple[str, LineStyle]]) -> tuple[str, ...]:
    """The palette colours no encoding in ``styles`` has: where names the registry does not know draw from."""
    taken = {c for c, _ in styles.values()}
    return tuple(c for c in PALETTE if c not in taken) or PALETTE


def colour(name: str) -> str:
    """The colour of encoding or variant ``name``, the same in every figure and every run."""
    styles = _registered_styles()
    return styles[name][0] if name in styles else _hashed(name, _unknown_palette(styles))


def line_style(name: str) -> dict[str, object]:
    """Keyword arguments for ``Axes.plot`` that draw ``name`` in its colour and line style, labelled ``name``."""
    styles = _registered_styles()
    return {"color": colour(name), "linestyle": styles[name][1] if name in styles else "-", "label": name}


def order(names: Iterable[str]) -> list[str]:
    """The distinct ``names`` in registry order; names the registry does not know last, alphabetically."""
    rank = {name: i for i, name in enumerate(ENCODINGS)}
    return sorted(set(names), key=lambda n: (rank.get(n, len(rank)), n))


# ---------------------------------------------------------------- table helpers


def prepare(df: pd.DataFrame, *numeric: str) -> pd.DataFrame:
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


def one_setting(df: pd.DataFrame, columns: Iterable[str]) -> tuple[pd.DataFrame, str]:
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


def prefer(df: pd.DataFrame, column: str, preferred: str) -> tuple[pd.DataFrame, str]:
    """Rows whose ``column`` is ``preferred`` if any, else the first value; and that value."""
    values = list(dict.fromkeys(df[column]))
    chosen = preferred if preferred in values else values[0]
    return df[df[column] == chosen], chosen


def others(df: pd.DataFrame, column: str, chosen: str) -> str:
    """A title note naming the other values of ``column`` that ``df`` holds, or ""."""
    rest = sorted(set(df[column]) - {chosen})
    return f"; also in the table: {', '.join(rest)}" if rest else ""


# ---------------------------------------------------------------- axes helpers


def subplots(ncols: int = 1, width: float = 6.4, height: float = 4.2, per_row: int | None = None,
             **kwargs: object) -> tuple[Figure, np.ndarray]:
    """``ncols`` panels of ``width`` x ``height`` inches, in one row or rows of ``per_row`` (spare cells hidden)."""
    cols = min(ncols, per_row or ncols)
    rows = -(-ncols // cols)
    fig = Figure(figsize=(width * cols, height * rows), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, **kwargs).ravel()
    for ax in axes[ncols:]:
        ax.set_visible(False)
    return fig, axes[:ncols]  # (ncols,) array of Axes


def plot_per_encoding(ax: Axes, rows: pd.DataFrame, x: str, y: str, *, by: str = "encoding",
                      labels: Mapping[str, str] | None = None, **plot_kwargs: object) -> None:
    """One line per encoding (the values of column ``by``) in registry order: ``y`` against ``x``.

    Each line is sorted by ``x`` and drawn in the encoding's colour and line style, labelled
    with ``labels[name]`` where given, else its name; ``plot_kwargs`` (a marker, a fixed line
    style, a fixed label) override the style.
    """
    for name in order(rows[by]):
        line = rows[rows[by] == name].sort_values(x)
        style = {**line_style(name), **plot_kwargs}
        if labels and name in labels:
            style["label"] = labels[name]
        ax.plot(line[x], line[y], **style)


def over_seeds(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Rows of ``df`` averaged over its seeds per group of ``by``: columns ``by``, then ``value`` (the mean),
    ``ci95`` (the half-width of its 95 % interval, NaN with one seed) and ``n`` (stats.aggregate)."""
    stats = aggregate(df[df[value].notna()], by, value)
    return stats.rename(columns={"mean": value})


def band_per_encoding(ax: Axes, rows: pd.DataFrame, x: str, y: str, *, by: str = "encoding") -> None:
    """Shade ``y`` ± ``ci95`` around each line of ``plot_per_encoding``, in the encoding's colour."""
    for name in order(rows[by]):
        line = rows[(rows[by] == name) & rows["ci95"].notna()].sort_values(x)
        if len(line):
            ax.fill_between(line[x], line[y] - line["ci95"], line[y] + line["ci95"], color=colour(name), alpha=0.15,
                            linewidth=0)


def seeds_note(df: pd.DataFrame, shown: str = "shaded") -> str:
    """What a figure's values are over: 'seed 0 (1 seed, no interval)', or 'mean of 3 seeds (0, 1, 2);
    shaded: 95 % interval' (``shown`` says how the interval is drawn: shaded, error bars)."""
    seeds = sorted({int(s) for s in pd.to_numeric(df["seed"], errors="coerce").dropna()})
    if len(seeds) <= 1:
        return f"seed {seeds[0] if seeds else '?'} ({ONE_SEED})"
    return f"mean of {len(seeds)} seeds ({', '.join(map(str, seeds))}); {shown}: 95 % interval (Student t)"


def log_x(ax: Axes, values: Iterable[float], label: str, base: int = 2) -> None:
    """A log x axis titled ``label``, with ticks at the measured ``values`` when there are few."""
    ax.set_xscale("log", base=base)
    x_ticks_at(ax, values)
    ax.set_xlabel(label)


def legend_outside(axes: Iterable[Axes]) -> None:
    """One legend for all panels, right of the last one, with each label once."""
    axes = list(axes)
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    # attached to an axes (not the figure) so the constrained layout makes room for it below the title
    axes[-1].legend(list(entries.values()), list(entries), loc="upper left", bbox_to_anchor=(1.02, 1.0),
                    borderaxespad=0.0, fontsize="small")


def x_ticks_at(ax: Axes, values: Iterable[float]) -> None:
    """Label the x axis at the measured values (64, 128, ...), not at powers of the log base."""
    values = sorted({float(v) for v in values if np.isfinite(v) and v > 0})
    if 0 < len(values) <= 10:
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.xaxis.set_minor_locator(NullLocator())


def plain_log_y(ax: Axes) -> None:
    """A log y axis labelled 6, 10, 20 rather than 6×10^0: perplexities and milliseconds read better."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1.2, 0.4)))


def title(fig: Figure, what: str, detail: str) -> None:
    """The figure's title: what it shows, then on a second line which data it shows."""
    fig.suptitle(f"{what}\n{detail}", fontsize="medium")


def save_atomic(fig: Figure, path: Path, fmt: str) -> None:
    """Save ``fig`` as ``fmt`` to a temporary file next to ``path`` and rename it over ``path``.

    A failed save (disk full, interrupted) leaves the previous figure, not half of a new one.
    """
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format=fmt)
