"""The README's quick start is the user's door: two commands, and CI runs the second."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", text, flags=re.S | re.M).group(1)
    return re.findall(r"```(?:bash|sh|shell)\n(.*?)```", section, flags=re.S)


def test_quick_start_has_exactly_two_commands():
    blocks = quick_start_blocks()
    assert len(blocks) == 2
    assert "pip install torch==2.13.0" in blocks[0] and "pe-bench" in blocks[0]
    assert '".[dev]"' in blocks[1] and "pytest" in blocks[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert quick_start_blocks()[1].strip() in ci


PLACEHOLDER = re.compile(r"\b(?:[A-Z0-9]+_)+WALL\b|\b(?:TODO|TBD|XXX)\b")
STRAY_AFTER_FENCE = re.compile(r"^\s*```[^\w\s]")  # a code fence with markup glued on: ```.**


def test_the_docs_hold_no_placeholder_or_stray_markup():
    found = [f"{path.name}:{number}: {line.strip()}"
             for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if PLACEHOLDER.search(line) or STRAY_AFTER_FENCE.match(line)]
    assert not found, "\n".join(found)


def test_the_readme_counts_the_checks_that_exist():
    from pe_bench.check import CHECKS

    counts = re.findall(r"\b(\d+) checks\b", (ROOT / "README.md").read_text())
    assert counts and {int(n) for n in counts} == {len(CHECKS)}
