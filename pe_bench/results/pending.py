"""Rows a rank other than 0 has finished in a sweep, kept on disk until rank 0 has written them.

Under ``--distribute sweep`` rank 0 writes every table; another rank hands its rows over when
a phase of the sweep ends (ranks.py). A run cut off before that (Ctrl-C, a job's time limit, a
machine going down) would lose them and ``--resume`` would measure them again: hours for the
standard preset's models. So each such rank also keeps what it has finished in a file of its
own, ``pending/<suite>-phase<i>-rank<r>.json`` (one writer per file, rewritten atomically after
every batch), and:

- rank 0 removes a phase's files once it has written that phase's rows (``forget``; the
  folder itself is left to the run's end, ``remove_if_empty``: another rank may be starting
  its next phase's file in it);
- a run that finds files left by a run cut off writes their rows into the tables first,
  before it reads the saved rows (``merge``), then removes them: they are finished rows like any other;
- on machines that do not share the output folder, rank 0 never sees another rank's files:
  that rank removes its own when its next run begins (``discard``), so old rows never
  overwrite newer ones there. Such a sweep cut off keeps only rank 0's rows (docs/cluster.md).

A file holds ``[{"table": <schema name>, "rows": [<row dict>, ...]}, ...]`` (JSON; NaN as
Python's json writes it); only files named as ``path_for`` names them count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pe_bench.errors import InputError
from pe_bench.results.files import check_subfolder, write_atomic
from pe_bench.results.schema import Schema
from pe_bench.results.tables import upsert

#: the subfolder of a results folder that holds them
FOLDER = "pending"
SUFFIX = ".json"
_NAME = re.compile(r"[a-z0-9_]+-phase[0-9]+-rank[1-9][0-9]*\.json")

Batch = tuple[Schema, list[dict[str, Any]]]


def path_for(out: Path, suite: str, phase: int, rank: int) -> Path:
    """Where rank ``rank`` keeps the rows it finished in phase ``phase`` of suite ``suite``."""
    return Path(out) / FOLDER / f"{suite}-phase{phase}-rank{rank}{SUFFIX}"


def is_kept_name(name: str) -> bool:
    """True for a file name ``path_for`` makes (what ``merge`` reads and folder recognition accepts)."""
    return _NAME.fullmatch(name) is not None


def check(out: Path, schemas: dict[str, Schema]) -> None:
    """Before any work: ``out/pending`` is a folder (or absent), so that another rank can keep its rows there,
    and every file a cut-off run left in it holds rows that ``merge`` can write (``schemas``: every table by name)."""
    folder = Path(out) / FOLDER
    check_subfolder(folder, "the rows a sweep's other ranks finished until rank 0 writes them")
    for path in _kept_files(folder):
        _read(path, schemas)


def _kept_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob(f"*{SUFFIX}") if is_kept_name(p.name)) if folder.is_dir() else []


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
    """Remove every rank's file of this phase: rank 0 has written their rows."""
    for path in (Path(out) / FOLDER).glob(f"{suite}-phase{phase}-rank*{SUFFIX}"):
        path.unlink(missing_ok=True)


def discard(out: Path, rank: int) -> None:
    """Remove what rank ``rank`` (not 0) kept in an earlier run: where the folder is shared, rank 0 merged
    it before this run began; where it is not, nobody ever will, and its rows are older than the tables'."""
    for path in (Path(out) / FOLDER).glob(f"*-rank{rank}{SUFFIX}"):
        if is_kept_name(path.name):
            path.unlink(missing_ok=True)


def remove_if_empty(out: Path) -> None:
    """Remove the folder once no file is pending (when no other rank can be writing in it)."""
    try:
        (Path(out) / FOLDER).rmdir()
    except OSError:  # missing, or holding something: left as it is
        pass


def _read(path: Path, schemas: dict[str, Schema]) -> list[Batch]:
    try:
        records = json.loads(path.read_text())
        if not isinstance(records, list) or not all(isinstance(r, dict) and isinstance(r["rows"], list)
                                                    for r in records):
            raise TypeError("not a list of {table, rows}")
        return [(schemas[record["table"]], record["rows"]) for record in records]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path} holds no rows pe-bench kept ({type(e).__name__}: {e}); move it out of the "
                         f"results folder (it is the rows of one rank of a sweep that was cut off)") from e


def merge(out: Path, schemas: dict[str, Schema]) -> dict[str, int]:
    """Write the rows of every file a run cut off left in ``out/pending/`` into their tables, then remove the
    files; the rows written, by table (none: empty). ``schemas``: every table by name."""
    folder = Path(out) / FOLDER
    found = [(path, _read(path, schemas)) for path in _kept_files(folder)]  # every file read before any table changes
    written: dict[str, int] = {}
    for path, batches in found:
        for schema, rows in batches:
            upsert(out, schema, rows)
            written[schema.name] = written.get(schema.name, 0) + len(rows)
        path.unlink()
    remove_if_empty(out)
    return {name: n for name, n in written.items() if n}
