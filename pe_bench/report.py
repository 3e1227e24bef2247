"""``<out>/summary.md`` and ``<out>/summary.csv``: the comparison a run produced, in one place.

The Markdown holds the command and machine that made the results, the cross-suite summary
(summary.py), each suite's own table — the same tables the terminal shows, converted from
rich — and links to the figures and raw tables.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Group, RenderableType
from rich.table import Table

from pe_bench.results import SCHEMAS, read_table, write_atomic
from pe_bench.summary import display_rows, markdown_table, summarize


def rich_to_markdown(renderable: RenderableType) -> str:
    """A rich Table (or a Group of them) as Markdown tables, each under its title."""
    if isinstance(renderable, Group):
        return "\n\n".join(rich_to_markdown(r) for r in renderable.renderables)
    if not isinstance(renderable, Table):
        return str(renderable)
    titles = [str(c.header).replace("\n", " ") for c in renderable.columns]
    cells = list(zip(*[[str(cell) for cell in c.cells] for c in renderable.columns]))
    table = markdown_table(titles, [list(row) for row in cells])
    return f"**{renderable.title}**\n\n{table}" if renderable.title else table


def load_tables(out: Path) -> dict[str, pd.DataFrame]:
    """Every result table present in ``out``."""
    return {name: read_table(out / schema.filename, schema) for name, schema in SCHEMAS.items()
            if (out / schema.filename).exists()}


def summary_table(summary: pd.DataFrame) -> Table:
    """The summary as a rich Table, for the terminal."""
    titles, cells = display_rows(summary)
    table = Table(title="summary: one row per encoding")
    for title in titles:
        table.add_column(title, justify="left" if title in ("encoding", "best RoPE scaling") else "right")
    for row in cells:
        table.add_row(*row)
    return table


def write_report(out: Path, tables: dict[str, pd.DataFrame], *, encodings: tuple[str, ...], preset: str,
                 runtime_record: dict, command: str, suite_tables: list[RenderableType],
                 figures: list[Path]) -> pd.DataFrame:
    """Write summary.csv and summary.md from ``tables`` (this run's rows); returns the summary."""
    baseline_first = ("nope", *[e for e in encodings if e != "nope"])
    summary = summarize(tables, baseline_first)
    write_atomic(out / "summary.csv", summary.to_csv(index=False))
    titles, cells = display_rows(summary)
    parts = [
        "# pe-bench results",
        f"Made by `{command}` on {runtime_record['device']}, {runtime_record['threads']} threads, "
        f"{runtime_record['dtype']}, torch {runtime_record['torch_version']} (preset `{preset}`). "
        "Every figure below was measured by that command; `manifest.json` records the full settings.",
        "## Summary",
        markdown_table(titles, cells),
        "*x NoPE*: time over NoPE's at the longest length, measured side by side on the same backend, "
        "on the encoding's fastest backend (named). *decode ms/tok* and *cache speedup*: cached decoding "
        "at the longest context, and its speedup over recomputing the prefix. *cache exact*: the largest "
        "logit difference between KV-cached decoding and a full forward (yes at <= 1e-4). "
        "*shift-invariant*: the largest logit change when every position moves by the same offset. "
        "Perplexities use non-overlapping windows; L is the training length; *best RoPE scaling* is the "
        "variant with the lowest perplexity at 8L.",
    ]
    parts += [rich_to_markdown(t) for t in suite_tables]
    if figures:
        parts.append("## Figures")
        parts += [f"![{f.stem}]({f.relative_to(out).as_posix()})" for f in figures]
    parts.append("## Files")
    parts.append("\n".join(f"- [{f}]({f})" for f in sorted(p.name for p in out.glob("*.csv")) + ["manifest.json"]))
    write_atomic(out / "summary.md", "\n\n".join(parts) + "\n")
    return summary
