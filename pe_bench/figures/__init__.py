"""Figures drawn from result tables (never by rerunning a benchmark) and of the encodings themselves.

Each suite draws its figures in its own folder (``pe_bench/suites/<name>/figures.py``) and
lists them in ``Suite.figures``, a tuple of ``FigureSpec`` (file name, the table it draws, the
function that draws it); ``encodings`` here holds the encodings' own pictures, computed from
their formulas (``table`` None).

``common`` holds what they share, among it each encoding's colour, derived from the registry
so an encoding looks the same in every figure. ``draw_figures`` draws the specs it is given
from the tables it is given; which specs, and reading tables from a folder, is the caller's
business, so this package imports no suite and no runner (the suites import it).

A figure whose table is missing or has no usable rows is skipped with a reason, not an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pe_bench.errors import InputError, PeBenchError
from pe_bench.figures.common import FigureSpec, NoUsableRows, colour, save_atomic

FORMATS = ("png", "svg")


class NothingToPlot(PeBenchError):
    """The results folder holds none of the result tables."""


@dataclass
class PlotReport:
    """What ``draw_figures`` did: the files it wrote and the figures it skipped, with why."""

    drawn: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (figure name, reason)


def draw_figures(tables: dict[str, pd.DataFrame], specs: Sequence[FigureSpec], out: Path, fmt: str = "png",
                 source: str = "the run") -> PlotReport:
    """Draw each of ``specs`` that ``tables`` (table name -> rows) allow into ``out``, as ``<name>.<fmt>``.

    ``compare`` and ``run`` pass the rows of the run they just made, so the figures show the
    same setting as the summary even in a folder that holds other runs too; ``source`` names
    where the tables came from in the reasons for skipped figures. Each file is written to a
    temporary file and renamed, so a failed save leaves the previous figure.

    Returns:
        The files written, in the order of ``specs``, and for each figure not drawn its name
        and the reason: its table is not in ``tables``, or has no rows it can draw.

    Raises:
        InputError: ``fmt`` is not one of ``FORMATS``.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown plot format '{fmt}'; valid: {', '.join(FORMATS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = PlotReport()
    for spec in specs:
        if spec.table is not None and spec.table not in tables:
            report.skipped.append((spec.name, f"no {spec.table}.csv in {source}"))
            continue
        args = () if spec.table is None else (tables[spec.table],)
        try:
            fig = spec.draw(*args)  # a plain Figure, freed with its last reference: nothing to close
        except NoUsableRows as skip:
            report.skipped.append((spec.name, str(skip)))
            continue
        path = out / f"{spec.name}.{fmt}"
        save_atomic(fig, path, fmt)
        report.drawn.append(path)
    return report


__all__ = ["FORMATS", "FigureSpec", "NoUsableRows", "NothingToPlot", "PlotReport", "colour", "draw_figures"]
