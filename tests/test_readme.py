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
