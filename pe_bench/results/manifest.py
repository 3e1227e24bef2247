"""``<out>/manifest.json``: what produced the results in a folder.

Every run appends an entry — pe-bench version, git commit (if pe-bench runs from a git
checkout), torch version, device, threads, dtype, preset, every suite's full settings,
seeds, corpus and checksum, start and end times, the command line, how it ended and how
long each suite took — and updates it when the run ends, interrupted or not. The file is
rewritten atomically.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from pe_bench import __version__
from pe_bench.results.files import write_atomic

FILENAME = "manifest.json"


def now() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_commit(source: Path = Path(__file__).resolve().parent) -> str | None:
    """The commit of the checkout holding ``source`` (the pe_bench package), or None.

    '-dirty' is added when the files under ``source`` differ from that commit; results
    written into the same checkout (results/ is tracked) do not count.
    """
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=5)
        if commit.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."], cwd=source,
                               capture_output=True, text=True, timeout=5)
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _plain(value: Any) -> Any:
    """Settings dataclasses (with paths and tuples) as JSON values."""
    if dataclasses.is_dataclass(value):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def new_entry(*, encodings: tuple[str, ...], suites: dict[str, Any], preset: str, runtime_record: dict[str, Any],
              seed: int | None, resume: bool, command: list[str] | None = None,
              **records: Any) -> dict[str, Any]:
    """The manifest entry of a run that is starting; ``records`` are what suites add (the corpus, ...)."""
    return {
        "pe_bench_version": __version__, "git_commit": git_commit(), "torch_version": torch.__version__,
        "python_version": sys.version.split()[0], "command": " ".join(command if command is not None else sys.argv),
        "started_at": now(), "ended_at": None, "status": "running", "encodings": list(encodings),
        "preset": preset, "seed": seed, "resume": resume, **runtime_record,
        "suites": {name: _plain(settings) for name, settings in suites.items()},
        **_plain(records), "suite_seconds": {}, "rows_written": {},
    }


def record(out: Path, entry: dict[str, Any]) -> None:
    """Add ``entry`` to ``out``'s manifest, or replace it if it is already the last one."""
    path = out / FILENAME
    runs: list[dict[str, Any]] = []
    if path.exists():
        try:
            runs = json.loads(path.read_text()).get("runs", [])
        except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
            runs = []  # an unreadable manifest is replaced, never merged into
    if runs and runs[-1].get("started_at") == entry["started_at"] and runs[-1].get("command") == entry["command"]:
        runs[-1] = entry
    else:
        runs.append(entry)
    write_atomic(path, json.dumps({"runs": runs}, indent=2) + "\n")
