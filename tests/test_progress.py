"""Progress in a log or a pipe: plain lines per finished task and suite, never a bar that a log cannot hold."""

import io
import re

from rich.console import Console
from typer.testing import CliRunner

from pe_bench.cli import app
from pe_bench.progress import LogProgress, RichProgress, progress_for


def test_a_console_that_is_not_a_terminal_gets_plain_lines():
    assert isinstance(progress_for(Console(file=io.StringIO(), force_terminal=False), 2), LogProgress)
    assert isinstance(progress_for(Console(file=io.StringIO(), force_terminal=True), 2), RichProgress)


def test_each_finished_task_and_stage_is_one_line_with_its_count_and_fields():
    out = io.StringIO()
    with LogProgress(Console(file=out, force_terminal=False, width=60), stages=2) as progress:
        with progress.stage("speed"):
            with progress.task("time rope at 128", total=3) as advance:
                advance(loss="2.31")
        with progress.stage("kvcache"):
            pass
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # never wrapped, whatever the width
    assert re.search(r"time rope at 128: done \(\d+\.\d s, loss=2\.31\)$", lines[0])
    assert "speed finished (1 of 2" in lines[1] and "kvcache finished (2 of 2" in lines[2]


def test_a_redirected_run_reports_its_progress(tmp_path):
    result = CliRunner().invoke(app, ["compare", "--suite", "kvcache", "--preset", "tiny", "--encodings", "nope",
                                      "--no-plots", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "pe-bench: kvcache finished (1 of 1" in result.output


def test_a_redirected_run_prints_each_suite_table_as_that_suite_ends(tmp_path):
    result = CliRunner().invoke(app, ["compare", "--suite", "kvcache,speed", "--preset", "tiny", "--encodings", "nope",
                                      "--backends", "sdpa", "--seq-lens", "16", "--modes", "inference", "--no-plots",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    kvcache_done = next(i for i, line in enumerate(lines) if "pe-bench: kvcache finished" in line)
    speed_start = next(i for i, line in enumerate(lines) if "speed finished" in line)
    between = lines[kvcache_done + 1:speed_start]
    assert any("┃" in line for line in between)  # kvcache's table, printed before speed ran
