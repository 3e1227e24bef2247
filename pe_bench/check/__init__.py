"""The conformance suite behind ``pe-bench check``: does an encoding keep its contract and its claims?

Every check builds the encoding's own tiny model (``tiny`` preset, float32, seeded, CPU, the
class's ``check_options``) and measures: nothing an encoding declares is trusted. A check is
a function ``fn(name) -> CheckResult`` (or a list of them) in the ordered registry ``CHECKS``;
``@check("title")`` registers a function returning ``(passed, detail)``, so a new check is
one function plus that line. A check that raises is a failed result naming the exception
(a plugin's bug is reported, never raised); ``PositionOutOfRange`` past a declared
``max_len`` is the encoding keeping its claim, not a failure. Pure library: nothing printed
(``check_report`` builds the table the CLI prints).

Parts: registry.py (``CHECKS``, ``@check``, tolerances), models.py (what checks share),
checks.py (the ten checks); this module runs them and builds the report.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from rich.table import Table
from rich.text import Text

from pe_bench.check.checks import check_interface
from pe_bench.check import registry
from pe_bench.check.registry import CHECKS, CheckResult, check, one_line
from pe_bench.encodings import resolve
from pe_bench.progress import Progress


def run_check(name: str, title: str) -> list[CheckResult]:
    """The check ``title`` on ``name``, the global random state seeded and then restored; an
    exception is a failed result naming its type and message, never raised."""
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            out = registry.CHECKS[title](name)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - a plugin's bug (even sys.exit) is a finding
        return [CheckResult(name, title, False, f"raised {type(e).__name__}: {one_line(str(e))}")]
    return list(out) if isinstance(out, list) else [out]


def registered_names(names: Iterable[str]) -> list[str]:
    """The registry name of each of ``names``: itself, or the name a plugin spec ("file.py:Class")
    registered under. An unknown name raises InputError."""
    return [resolve(name) for name in names]


def check_encoding(name: str, progress: Progress | None = None) -> list[CheckResult]:
    """Every check in ``registry.CHECKS`` on the encoding ``name``; an unknown name raises InputError."""
    [name] = registered_names([name])
    progress = progress or Progress()
    results: list[CheckResult] = []
    with progress.task(name, len(registry.CHECKS)) as advance:
        for title in registry.CHECKS:
            results += run_check(name, title)
            advance(check=title)
    return results


def check_encodings(names: Iterable[str], progress: Progress | None = None) -> list[CheckResult]:
    """``check_encoding`` for each name, in order; every name is validated before any check runs."""
    names = registered_names(names)
    progress = progress or Progress()
    results: list[CheckResult] = []
    for name in names:
        with progress.stage(name):
            results += check_encoding(name, progress)
    return results


def check_report(results: list[CheckResult]) -> tuple[Table, list[str]]:
    """For the terminal: a rich table of ``results`` (encoding, check, PASS/FAIL, detail), and one
    line per failure saying what broke and by how much, then a count."""
    table = Table("encoding", "check", "result", "detail", title="conformance checks")
    for r in results:
        table.add_row(r.encoding, r.check, Text("PASS", "green") if r.passed else Text("FAIL", "bold red"),
                      Text(r.detail))
    lines = [f"FAIL {r.encoding} / {r.check}: {r.detail}" for r in results if not r.passed]
    return table, [*lines, f"{sum(r.passed for r in results)} of {len(results)} checks passed"]


def interface_problems(name: str) -> str | None:
    """What is wrong with ``name``'s interface (one line), or None: the check run before any work,
    so a plugin whose constructor raises or whose hook answers the wrong shape stops a run."""
    [result] = run_check(name, "interface")
    return None if result.passed else result.detail


__all__ = ["CHECKS", "CheckResult", "check", "check_encoding", "check_encodings", "check_interface", "check_report",
           "interface_problems", "registered_names", "run_check"]
