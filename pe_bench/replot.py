"""``pe-bench plot``: a folder's figures drawn again from its saved tables; nothing is rerun."""

from __future__ import annotations

from pathlib import Path

from pe_bench.errors import InputError
from pe_bench.figures import FORMATS, NothingToPlot, PlotReport, draw_figures
from pe_bench.results.folder import check_writable_folder, claim, is_owned
from pe_bench.runner import check_figures_folder, figure_specs, load_tables
from pe_bench.suites import all_schemas


def plot_results(results: Path, out: Path | None = None, fmt: str = "png") -> PlotReport:
    """Draw every figure the result tables in ``results`` allow; never reruns a benchmark.

    Args:
        results: a folder holding some of the suites' tables (speed.csv, kvcache.csv, ...).
        out: the folder for the figures (created if missing); default ``results / "plots"``.
        fmt: "png" or "svg"; each figure is written as ``<name>.<fmt>``.

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
    if out is None and is_owned(results):
        out = results / "plots"  # the figures of a pe-bench folder are pe-bench's
        check_figures_folder(out)
    else:
        flag = "plot folder" if out is None else "--out"
        out = results / "plots" if out is None else Path(out)
        check_writable_folder(out, flag)
    schemas = all_schemas()
    if not any((results / schema.filename).is_file() for schema in schemas.values()):
        expected = ", ".join(schema.filename for schema in schemas.values())
        raise NothingToPlot(f"nothing to plot in {results}: expected at least one of {expected}")
    # read every table before drawing anything, so a bad table stops the run with no figure half-made
    tables = load_tables(results)
    if not (out.parent == results and is_owned(results)):
        claim(out)  # a figures folder of its own: marked, so a later plot may write there again
    return draw_figures(tables, figure_specs(), out, fmt, source=str(results))
