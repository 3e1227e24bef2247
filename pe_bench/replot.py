"""``pe-bench plot``: a folder's figures drawn again from its saved tables, and its summary with them.

Nothing is rerun. In a results folder pe-bench owns, when the figures go to its own
``plots/``, summary.md and summary.html are rewritten as well, so that the page embeds the
figures just drawn instead of the ones drawn at the end of the run. The summary is rebuilt
from the saved tables by the code that wrote it (``runner.write_summary``): the last completed
run in manifest.json says which suites, encodings and rows it showed (``selects``, which the
runner records for this purpose), and its figures are the ones just drawn of those suites.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pe_bench.errors import InputError
from pe_bench.figures import FORMATS, NothingToPlot, PlotReport, draw_figures
from pe_bench.results import manifest
from pe_bench.results.folder import check_writable_folder, claim, is_owned, locked
from pe_bench.results.files import check_subfolder
from pe_bench.runner import figure_specs, load_tables, selected_tables, write_summary
from pe_bench.suites import SUITES, all_schemas


@dataclass
class Replotted(PlotReport):
    """What ``plot_results`` did: the figures (``PlotReport``), and the summary files it rewrote
    with them, or ``note``: why a summary that exists was left as it was."""

    pages: list[Path] = field(default_factory=list)
    note: str = ""


def plot_results(results: Path, out: Path | None = None, fmt: str = "png") -> Replotted:
    """Draw every figure the result tables in ``results`` allow, then rewrite its summary with them;
    never reruns a benchmark.

    Args:
        results: a folder holding some of the suites' tables (speed.csv, kvcache.csv, ...).
        out: the folder for the figures (created if missing); default ``results / "plots"``.
            The summary is rewritten only when the figures go to ``results / "plots"`` of a
            folder pe-bench owns, and a completed run in its manifest wrote one.
        fmt: "png" or "svg"; each figure is written as ``<name>.<fmt>``.

    Returns:
        The files written and, for each figure not drawn, its name and the reason; the summary
        files rewritten (summary.md, summary.html), or why not.

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
    owned = is_owned(results)
    if out is None and owned:
        out = results / "plots"  # the figures of a pe-bench folder are pe-bench's
        check_subfolder(out, "its figures")
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
    if not (out.parent == results and owned):
        claim(out)  # a figures folder of its own: marked, so a later plot may write there again
    drawn = draw_figures(tables, figure_specs(), out, fmt, source=str(results))
    report = Replotted(drawn.drawn, drawn.skipped)
    if owned and out.resolve() == (results / "plots").resolve():
        report.pages, report.note = rewrite_summary(results, drawn.drawn)
    return report


def _recorded(run: dict[str, Any]) -> bool:
    """Whether a manifest entry says all a summary needs: the suites' settings and selected rows, and more."""
    kinds = {"selects": dict, "suites": dict, "encodings": list, "preset": str, "command": str}
    return all(isinstance(run.get(key), kind) for key, kind in kinds.items()) and all(
        isinstance(selects, dict) for selects in run["selects"].values())


class _Busy(Exception):
    """Another process holds the results folder's lock."""


def _refuse(message: str) -> None:
    raise _Busy(message)


def rewrite_summary(results: Path, drawn: list[Path]) -> tuple[list[Path], str]:
    """summary.md and summary.html (and summary.csv, differences.csv) of ``results``' last completed
    run, written again from the saved tables with the figures ``drawn`` of that run's suites.

    Returns the pages rewritten, or none and why: a run writing to the folder now (it rewrites
    them when it ends), or a manifest too old to say which rows the summary showed. A folder whose
    manifest records no completed run has no summary to keep in step: nothing, and nothing to say.
    """
    done = [run for run in manifest.runs(results) if run.get("status") == "completed"]
    if not done:
        return [], ""
    run: dict[str, Any] = done[-1]
    if not _recorded(run):
        return [], (f"summary.md and summary.html left as they were: the run that wrote them ({run.get('command')}) "
                    "was made by a pe-bench that did not record which rows they show; run it again to rewrite them")
    suites = {name: run["suites"][name] for name in run["selects"] if name in SUITES and name in run["suites"]}
    names = {spec.name for spec in figure_specs(suites)}
    figures = [path for path in drawn if path.stem in names]
    claim(results)
    try:
        with locked(results, shlex.join(sys.argv), on_wait=_refuse):
            tables = selected_tables(results, run["encodings"], {name: run["selects"][name] for name in suites})
            # the manifest entry holds the runtime record's fields (device, dtype, threads, torch_version)
            write_summary(results, tables, figures, encodings=tuple(run["encodings"]), suites=suites,
                          preset=run["preset"], runtime_record=run, command=run["command"])
    except _Busy:
        return [], (f"summary.md and summary.html left as they were: a run is writing to {results}/ "
                    "and rewrites them when it ends")
    return [results / "summary.md", results / "summary.html"], ""
