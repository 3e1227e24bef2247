"""The cross-suite summary (``summary.csv``) and the report (``summary.md``).

One row per encoding: the answer to "which encoding, at what cost?". Every suite declares
its part (``SummaryPart``: columns, how to compute them from the run's tables,
how to show them, a legend); this module lays the parts side by side and names no suite.
The summary is built from the saved tables, restricted by the runner to the run's setting,
so rows resumed from an earlier run count.

summary.md holds the command and machine that made the results, the summary, which of the
summary's differences are real across seeds (differences.csv), each suite's
own table (the same tables the terminal shows, converted from rich) and links to the
figures and raw tables.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Group, RenderableType
from rich.table import Table

from pe_bench.encodings import ENCODINGS
from pe_bench.results import claims as claims_module
from pe_bench.results.claims import Claim, compare_claims
from pe_bench.results import document
from pe_bench.results.document import Section, TableData
from pe_bench.results.files import write_atomic
from pe_bench.results.manifest import runs as runs_of
from pe_bench.stats import ONE_SEED

EXACT = 1e-4  # a cache or a shift is called exact / invariant at or below this logit difference

IDENTITY_COLUMNS = ("encoding", "family")


@dataclass(frozen=True)
class SummaryPart:
    """What one suite adds to the cross-suite summary: one row per encoding.

    ``compute(tables, encoding)`` reads this run's tables (by name) and returns a value for
    each of ``columns`` (missing ones stay empty); ``display`` is (title, cell) pairs for the
    terminal and Markdown tables; ``legend`` explains them in summary.md. ``claims`` are the
    comparisons the part's columns suggest, tested across seeds (results/claims.py).
    ``notes(tables)`` returns lines the user must read about this run's rows (noisy timings),
    shown at the end of the run and at the top of summary.md; none by default.
    """

    columns: tuple[str, ...]
    compute: Callable[[Mapping[str, pd.DataFrame], str], dict[str, Any]]
    display: tuple[tuple[str, Callable[[Mapping[str, Any]], str]], ...]
    legend: str
    claims: tuple[Claim, ...] = ()
    notes: Callable[[Mapping[str, pd.DataFrame]], list[str]] = lambda tables: []


def run_notes(tables: Mapping[str, pd.DataFrame], parts: Sequence[SummaryPart]) -> list[str]:
    """Every part's notes on ``tables`` (this run's rows), in part order: what the end of a run says."""
    return [line for part in parts for line in part.notes(tables)]


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def ratio(value: object) -> str:
    """1.07 -> '1.07x'; empty when missing."""
    return "" if _missing(value) else f"{value:.2f}x"


def times(value: object) -> str:
    """91.3 -> '91x'; empty when missing."""
    return "" if _missing(value) else f"{value:.0f}x"


def decimal(value: object) -> str:
    """5.904 -> '5.90'; empty when missing."""
    return "" if _missing(value) else f"{value:.2f}"


def plus_minus(mean: object, half_width: object, digits: int = 2, suffix: str = "") -> str:
    """5.904, 0.123 -> '5.90 ± 0.12'; without a half-width (one seed) the mean alone; empty when missing."""
    if _missing(mean):
        return ""
    return f"{mean:.{digits}f}{suffix}" + ("" if _missing(half_width) else f" ± {half_width:.{digits}f}")


def seeds_label(n: object) -> str:
    """How many seeds a mean is over: '3', or '1 seed, no interval'; empty when missing."""
    return "" if _missing(n) else ONE_SEED if int(n) == 1 else f"{int(n)}"


def label(value: object) -> str:
    """A text cell; empty when missing."""
    return "" if _missing(value) else str(value)


def exact(value: object) -> str:
    """A logit difference as 'yes (3e-06)' at or below EXACT, 'NO (2e+00)' above; empty when missing."""
    return "" if _missing(value) else f"{'yes' if value <= EXACT else 'NO'} ({value:.0e})"


def summarize(tables: Mapping[str, pd.DataFrame], encodings: Sequence[str],
              parts: Sequence[SummaryPart]) -> pd.DataFrame:
    """One row per encoding (in ``encodings`` order) that any table mentions.

    ``tables`` should hold one configuration's rows (``runner.tables_for_run`` selects them);
    every part fills its own columns, which stay empty when its suite did not run.
    """
    columns = [*IDENTITY_COLUMNS, *(c for part in parts for c in part.columns)]
    rows = []
    for name in encodings:
        if not any(len(df) and "encoding" in df.columns and (df["encoding"] == name).any() for df in tables.values()):
            continue
        row: dict[str, Any] = dict.fromkeys(columns, math.nan)
        row["encoding"] = name
        row["family"] = ENCODINGS[name].family.value if name in ENCODINGS else ""
        for part in parts:
            row.update({c: v for c, v in part.compute(tables, name).items() if c in part.columns})
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def display_rows(summary: pd.DataFrame, parts: Sequence[SummaryPart]) -> tuple[list[str], list[list[str]]]:
    """Column titles and formatted cells, shared by the terminal table and the Markdown file."""
    shown = [("encoding", lambda r: label(r["encoding"]))] + [d for part in parts for d in part.display]
    return [title for title, _ in shown], [[show(row) for _, show in shown]
                                           for _, row in summary.iterrows()]


def markdown_table(titles: list[str], cells: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table; pipes inside titles and cells are escaped."""
    return document.to_markdown([Section("", tables=[("", titles, cells)])]).split("\n\n", 1)[1].rstrip("\n")


def rich_tables(renderable: RenderableType) -> list[TableData]:
    """A rich Table (or a Group of them) as (title, column titles, rows of cells)."""
    if isinstance(renderable, Group):
        return [t for r in renderable.renderables for t in rich_tables(r)]
    if not isinstance(renderable, Table):
        return []
    titles = [str(c.header).replace("\n", " ") for c in renderable.columns]
    cells = [list(row) for row in zip(*[[str(cell) for cell in c.cells] for c in renderable.columns])]
    return [(str(renderable.title or ""), titles, cells)]


def summary_table(summary: pd.DataFrame, parts: Sequence[SummaryPart]) -> Table:
    """The summary as a rich Table, for the terminal."""
    titles, cells = display_rows(summary, parts)
    table = Table(title="summary: one row per encoding")
    for i, title in enumerate(titles):
        table.add_column(title, justify="left" if i == 0 else "right")
    for row in cells:
        table.add_row(*row)
    return table


def differences(tables: Mapping[str, pd.DataFrame], encodings: Sequence[str],
                parts: Sequence[SummaryPart]) -> pd.DataFrame:
    """Every part's claims tested across seeds (results/claims.py): one row per compared pair."""
    return compare_claims([c for part in parts for c in part.claims], tables, encodings)


def differences_cells(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Column titles and formatted cells of the claims table, for the terminal and summary.md."""
    titles = ["claim", "better", "than", "margin", "seeds", "p", "verdict"]
    cells = [[str(r["claim"]), str(r["better"]), str(r["worse"]), plus_minus(r["margin"], r["margin_ci95"], 3),
              str(r["seeds"]), "" if _missing(r["p_value"]) else f"{r['p_value']:.3g}", str(r["verdict"])]
             for _, r in df.iterrows()]
    return titles, cells


def differences_table(df: pd.DataFrame) -> Table:
    """The claims table as a rich Table, for the terminal."""
    titles, cells = differences_cells(df)
    table = Table(title="which differences are real (paired across seeds)")
    for title in titles:
        table.add_column(title)
    for row in cells:
        table.add_row(*row)
    return table


def provenance(runs: Sequence[Mapping[str, Any]]) -> str:
    """Which runs measured the rows: one run, or a list with each run's start, status and rows per suite."""
    if len(runs) <= 1:
        return "Every figure below was measured by that command."
    listed = "\n".join(f"- `{r['command']}` (started {r['started_at']}, {r['status']}): "
                       + ", ".join(f"{name} {n} rows" for name, n in r["rows"].items()) for r in runs)
    return f"The rows below were measured by {len(runs)} runs, oldest first:\n\n{listed}\n\n"


def _threads(runtime_record: dict[str, Any], manifest_runs: list[dict[str, Any]]) -> str:
    """'2 threads', or under torchrun or --jobs '2 ranks of 1 thread' (a suite run by rank 0 alone
    records its own threads in its rows)."""
    threads = int(runtime_record["threads"])
    each = f"{threads} thread{'s' if threads != 1 else ''}"
    ranks = int((manifest_runs[-1] if manifest_runs else {}).get("world_size") or 1)
    return f"{ranks} ranks of {each}" if ranks > 1 else each


def write_report(out: Path, tables: Mapping[str, pd.DataFrame], parts: Sequence[SummaryPart], *,
                 encodings: tuple[str, ...], preset: str, runtime_record: dict, command: str,
                 suite_tables: list[RenderableType], figures: list[Path],
                 runs: Sequence[Mapping[str, Any]] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write summary.csv, differences.csv and summary.md from ``tables`` (this run's rows).

    ``runs`` are the runs that wrote those rows (``manifest.contributing_runs``); summary.md
    names each, so a resumed run is not credited with rows an earlier one measured.

    Returns the summary and the claims tested across seeds (``differences``).
    """
    baseline_first = ("nope", *[e for e in encodings if e != "nope"])
    summary = summarize(tables, baseline_first, parts)
    write_atomic(out / "summary.csv", summary.to_csv(index=False))
    compared = differences(tables, baseline_first, parts)
    write_atomic(out / "differences.csv", compared.to_csv(index=False))  # headers alone: nothing compared
    titles, cells = display_rows(summary, parts)
    notes = run_notes(tables, parts)  # noisy timings: said before the summary that holds them
    settings = manifest_runs[-1].get("suites", {}) if (manifest_runs := runs_of(out)) else {}
    sections = [
        Section("pe-bench results", [
            f"Made by `{command}` on {runtime_record['device']}, {_threads(runtime_record, manifest_runs)}, "
            f"{runtime_record['dtype']}, torch {runtime_record['torch_version']} (preset `{preset}`). "
            + provenance(runs) + " `manifest.json` records the full settings."]),
        *([Section("Warnings", bullets=list(notes))] if notes else []),
        Section("Summary", tables=[("", titles, cells)]),
        Section("Legend", [" ".join(part.legend for part in parts)]),
    ]
    if len(compared):
        sections.append(Section("Which differences are real", [claims_module.legend()],
                                tables=[("", *differences_cells(compared))]))
    sections.append(Section("Each suite's tables", tables=[t for r in suite_tables for t in rich_tables(r)]))
    if figures:
        sections.append(Section("Figures", figures=[f.relative_to(out) for f in figures]))
    sections.append(Section("Settings", preformatted=json.dumps(settings, indent=1)))
    sections.append(Section("Files", links=sorted(p.name for p in out.glob("*.csv")) + ["manifest.json"]))
    write_atomic(out / "summary.md", document.to_markdown(sections))
    write_atomic(out / "summary.html", document.to_html(sections, out))
    return summary, compared
