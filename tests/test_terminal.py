"""Tables fit: at 80 columns nothing is cut with an ellipsis; in a log every value is printed whole.

Rendered from the committed quick run's tables, every suite's table and the summary.
"""

import io
from pathlib import Path

import pytest
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from pe_bench import terminal
from pe_bench.results.summary import summarize, summary_table
from pe_bench.runner import load_tables
from pe_bench.suites import SUITES

RESULTS = Path(__file__).resolve().parents[1] / "results" / "quick"


def tables_of(renderable) -> list[Table]:
    if isinstance(renderable, Table):
        return [renderable]
    return [t for inner in getattr(renderable, "renderables", []) for t in tables_of(inner)] if isinstance(
        renderable, Group) else []


def every_table() -> list:
    saved = load_tables(RESULTS)
    rendered = [suite.render({s.name: saved[s.name] for s in suite.tables if s.name in saved})
                for suite in SUITES.values()]
    parts = [suite.summary for suite in SUITES.values()]
    rendered.append(summary_table(summarize(saved, list(saved["speed"]["encoding"].unique()), parts), parts))
    return rendered


def cells(table: Table) -> list[str]:
    return [c.plain if isinstance(c, Text) else str(c) for column in table.columns for c in column._cells
            if (c.plain if isinstance(c, Text) else str(c)).strip()]


@pytest.mark.parametrize("index", range(len(SUITES) + 1))
def test_at_80_columns_nothing_is_cut(index):
    renderable = terminal.fit(every_table()[index])
    out = Console(width=80, file=io.StringIO(), force_terminal=True, color_system=None)
    out.print(renderable)
    text = out.file.getvalue()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.parametrize("index", range(len(SUITES) + 1))
def test_in_a_log_every_value_is_printed_whole(index, monkeypatch):
    renderable = terminal.fit(every_table()[index])
    log = terminal.console()
    log.file = io.StringIO()  # not a terminal: the width of a log
    assert not log.is_terminal and log.width == terminal.LOG_WIDTH
    log.print(renderable)
    text = log.file.getvalue()
    for table in tables_of(renderable):
        for value in cells(table):
            for line in value.splitlines():
                assert line in text, line


def test_a_bracketed_name_such_as_a_schedule_is_printed_not_read_as_markup(capsys):
    table = Table(title="kvcache for [rope,nope]")
    table.add_column("encoding")
    table.add_row("[fox(window=5),nope]")
    terminal.console().print(table)
    out = capsys.readouterr().out
    assert "[fox(window=5),nope]" in out and "[rope,nope]" in out
