"""Rows a rank other than 0 has finished in a sweep, kept on disk until rank 0 has written them.

Under ``--distribute sweep`` rank 0 writes every table; another rank hands its rows over when
a phase of the sweep ends (ranks.py). A run cut off before that (Ctrl-C, a job's time limit, a
machine going down) would lose them and ``--resume`` would measure them again: hours for the
standard preset's models. So each such rank also keeps what it has finished in a file of its
own, ``pending/<suite>-phase<i>-rank<r>.json`` (one writer per file, rewritten atomically after
every batch), and:

- rank 0 removes a phase's files once it has written that phase's rows (``forget``);
- a run that finds files left by a run cut off writes their rows into the tables first,
  before it reads anything (``merge``), then removes them: they are finished rows like any other.

A file holds ``[{"table": <schema name>, "rows": [<row dict>, ...]}, ...]`` (JSON; NaN as
Python's json writes it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pe_bench.errors import InputError
from pe_bench.results.files import write_atomic
from pe_bench.results.schema import Schema
from pe_bench.results.tables import upsert

#: the subfolder of a results folder that holds them
FOLDER = "pending"
SUFFIX = ".json"

Batch = tuple[Schema, list[dict[str, Any]]]


def path_for(out: Path, suite: str, phase: int, rank: int) -> Path:
    """Where rank ``rank`` keeps the rows it finished in phase ``phase`` of suite ``suite``."""
    return Path(out) / FOLDER / f"{suite}-phase{phase}-rank{rank}{SUFFIX}"


def _plain(value: Any) -> Any:
    """A numpy or torch scalar as the Python number it holds (json knows only Python's)."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"a row value of type {type(value).__name__} cannot be kept as JSON")


def keep(path: Path, batches: Iterable[Batch]) -> None:
    """Write every batch this rank has finished in its phase so far (the whole list, atomically)."""
    records = [{"table": schema.name, "rows": rows} for schema, rows in batches if rows]
    write_atomic(path, json.dumps(records, default=_plain))


def forget(out: Path, suite: str, phase: int) -> None:
    """Remove every rank's file of this phase (rank 0 has written their rows), and the folder once empty."""
    folder = Path(out) / FOLDER
    for path in folder.glob(f"{suite}-phase{phase}-rank*{SUFFIX}"):
        path.unlink(missing_ok=True)
    _remove_if_empty(folder)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # missing, or holding something: left as it is
        pass


def _read(path: Path, schemas: dict[str, Schema]) -> list[Batch]:
    try:
        records = json.loads(path.read_text())
        return [(schemas[record["table"]], record["rows"]) for record in records]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path} holds no rows pe-bench kept ({type(e).__name__}: {e}); move it out of the "
                         f"results folder (it is the rows of one rank of a sweep that was cut off)") from e


def merge(out: Path, schemas: dict[str, Schema]) -> int:
    """Write the rows of every file a run cut off left in ``out/pending/`` into their tables, then remove the
    files; the number of rows written. ``schemas``: every table by name."""
    folder = Path(out) / FOLDER
    paths = sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() and not folder.is_symlink() else []
    found = [(path, _read(path, schemas)) for path in paths]  # every file read before any table changes
    written = 0
    for path, batches in found:
        for schema, rows in batches:
            upsert(out, schema, rows)
            written += len(rows)
        path.unlink()
    _remove_if_empty(folder)
    return written
