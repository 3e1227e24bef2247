"""Recognising pe-bench's own files in a results folder that lacks its ``.pe-bench`` marker.

A fresh git clone has no markers (``.gitignore`` drops them) and, if its manifest is corrupt,
no readable manifest either; its folders must still be recognised as pe-bench's, while a
user's own ``summary.md``, ``manifest.json`` or ``plots/`` never is. So a file counts as
pe-bench's by what it holds, never by its name alone:

- a table (``speed.csv``, ``kvcache.csv``, ...) whose header holds every column its schema
  requires; ``summary.csv`` whose header starts with ``encoding,family``; ``differences.csv``
  whose header is the claims table's;
- ``summary.md`` that starts with ``# pe-bench results``.

Some entries are pe-bench's but prove nothing on their own: ``manifest.json`` (a corrupt one
is moved aside later, with a notice saying why), ``manifest.json.corrupt-*``, pe-bench's
temporaries, ``plots/`` holding only figures (``.png``, ``.svg``), ``checkpoints/`` holding
only checkpoints (``.pt``), ``pending/`` holding only the rows a cut-off sweep kept (``.json``:
pending.py), and a subfolder that is itself a results folder of pe-bench's (``results/`` holds some: one level
down, no further). A folder is pe-bench's when at least one file is recognised by its content
and every other entry is one of those (``classify``).
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pe_bench.results.claims import COLUMNS as CLAIM_COLUMNS
from pe_bench.results import pending
from pe_bench.results.files import SUBFOLDERS, is_temporary_name
from pe_bench.results.schema import REQUIRED

HEADER_BYTES = 64 * 1024  # a header longer than this is no table pe-bench wrote
REPORT_TITLE = "# pe-bench results"
SUMMARY_HEADER = ("encoding", "family")
_NAMES_ONLY = re.compile(r"manifest\.json|manifest\.json\.corrupt-.+")


@dataclass
class Entries:
    """A folder's entries, by what they are to pe-bench."""

    recognised: list[str] = field(default_factory=list)  # pe-bench's by their content
    names: list[str] = field(default_factory=list)  # pe-bench's names, which prove nothing alone
    foreign: list[str] = field(default_factory=list)  # not pe-bench's

    @property
    def owned(self) -> bool:
        return bool(self.recognised) and not self.foreign


def _head(path: Path) -> bytes | None:
    """The first HEADER_BYTES of a regular file (never opening a FIFO or a device), or None."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, HEADER_BYTES)
    except OSError:
        return None
    finally:
        os.close(fd)


def _header(path: Path) -> tuple[str, ...] | None:
    """The column names of a CSV's first line, or None if it has no readable first line."""
    data = _head(path)
    if not data or b"\n" not in data:
        return None
    try:
        line = data.split(b"\n", 1)[0].decode("utf-8")
        return tuple(next(csv.reader(io.StringIO(line))))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None


def _required_columns() -> dict[str, set[str]]:
    """File name -> the columns its schema requires, for every table any suite writes."""
    from pe_bench.suites import all_schemas  # the registry: imported here, it builds on this package

    return {schema.filename: {c.name for c in schema.columns if c.default is REQUIRED}
            for schema in all_schemas().values()}


def is_pe_bench_file(path: Path, tables: dict[str, set[str]] | None = None) -> bool:
    """True for a file whose content shows that pe-bench wrote it (see the module's docstring)."""
    tables = _required_columns() if tables is None else tables
    name = path.name
    if name == "summary.md":
        data = _head(path)
        return data is not None and data.startswith(REPORT_TITLE.encode())
    if name in ("summary.csv", "differences.csv") or name in tables:
        header = _header(path)
        if header is None:
            return False
        if name == "summary.csv":
            return header[:len(SUMMARY_HEADER)] == SUMMARY_HEADER
        if name == "differences.csv":
            return header == CLAIM_COLUMNS
        return tables[name] <= set(header)
    return False


#: what pe-bench keeps in each subfolder it writes (besides its marker, lock and temporaries)
SUBFOLDER_FILES: dict[str, Callable[[str], bool]] = {
    "plots": lambda name: name.endswith((".png", ".svg")),
    "checkpoints": lambda name: name.endswith(".pt"),
    "pending": pending.is_kept_name,
}
_OWN_IN_SUBFOLDERS = (".pe-bench", ".pe-bench.lock")


def _own_subfolder(path: Path) -> bool:
    """``plots/``, ``checkpoints/`` or ``pending/``, a real folder, holding nothing but what pe-bench writes there."""
    if path.name not in SUBFOLDERS or path.is_symlink() or not path.is_dir():
        return False
    ours = SUBFOLDER_FILES.get(path.name, lambda name: False)
    try:
        return all(entry.name in _OWN_IN_SUBFOLDERS or is_temporary_name(entry.name)
                   or (ours(entry.name) and entry.is_file(follow_symlinks=False))
                   for entry in os.scandir(path))
    except OSError:
        return False


def classify(folder: Path, ignore: tuple[str, ...] = (),
             results_folder: Callable[[Path], bool] = lambda path: False) -> Entries:
    """Each entry of ``folder`` (but ``ignore``), sorted by name, as recognised, a pe-bench name, or foreign.

    ``results_folder(path)`` says whether a subfolder (a real one, not a link) is a results
    folder of pe-bench's; folder.py passes its own test, one level deep.
    """
    tables = _required_columns()
    entries = Entries()
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        name = path.name
        if name in ignore:
            continue
        if is_pe_bench_file(path, tables):
            entries.recognised.append(name)
        elif (_NAMES_ONLY.fullmatch(name) or is_temporary_name(name) or _own_subfolder(path)
              or (path.is_dir() and not path.is_symlink() and results_folder(path))):
            entries.names.append(name)
        else:
            entries.foreign.append(name)
    return entries
