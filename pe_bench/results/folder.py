"""The results folder pe-bench owns, and the lock that lets one run at a time write to it.

pe-bench writes only into a folder it created or one marked as a pe-bench results folder:
the marker is a small file, ``.pe-bench``, written when pe-bench first claims a folder. A
folder that does not exist yet or is empty may be claimed; so may one holding a pe-bench
``manifest.json`` (results written before the marker existed), and one whose every file is
pe-bench's, recognised by its content (recognise.py): a fresh git clone has no markers
(``.gitignore`` drops them), and its manifest may be corrupt, which the run then says and moves
aside. Any other folder with files in it is refused before any work, naming the files that are
not pe-bench's, so ``--out ~`` or ``--out .`` can never overwrite a user's own ``summary.md``,
``manifest.json`` or ``plots/``.

One writer at a time: a run holds an exclusive OS file lock (``flock``) on
``<folder>/.pe-bench.lock`` while it measures and writes; the kernel releases it when the
process ends, however it ends. A second run into the same folder waits for it, after saying
which run holds it (its pid, command and start time, written into the lock file), so the
rows of both end up in the tables.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from pe_bench import paths
from pe_bench.errors import InputError, OutputError
from pe_bench.results import manifest
from pe_bench.results.files import write_atomic
from pe_bench.results.recognise import Entries, classify

MARKER = ".pe-bench"
LOCK = ".pe-bench.lock"
#: files pe-bench itself may leave in a folder that is otherwise the user's: never a reason to refuse
OWN_NAMES = (MARKER, LOCK)


def _is_pe_bench_manifest(path: Path) -> bool:
    if not path.is_file():  # never open a FIFO or a device to find out
        return False
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    runs = data.get("runs") if isinstance(data, dict) else None
    return isinstance(runs, list) and bool(runs) and all(isinstance(r, dict) and "pe_bench_version" in r
                                                         for r in runs)


def _marked(folder: Path) -> bool:
    return (folder / MARKER).is_file() or _is_pe_bench_manifest(folder / "manifest.json")


def _entries(folder: Path, depth: int = 0) -> Entries:
    """``folder``'s entries as recognise.py sees them; a subfolder that is a results folder of
    pe-bench's (``results/quick`` in ``results/``) is one of its own, one level down."""
    return classify(folder, OWN_NAMES, lambda sub: depth == 0 and (_marked(sub) or _entries(sub, 1).owned))


def is_owned(folder: Path) -> bool:
    """True for a folder pe-bench marked, one holding a manifest pe-bench wrote, or one whose every
    file is pe-bench's by its content (a fresh clone of committed results: recognise.py)."""
    return _marked(folder) or (folder.is_dir() and _entries(folder).owned)


def _check_path(folder: Path, flag: str) -> None:
    """Every part of ``folder`` that exists is a folder one can enter; none is a dangling link or
    a link loop; no name is too long for the file system (what ``mkdir`` would fail on later)."""
    path = Path(folder.absolute().anchor)
    for part in folder.absolute().parts[1:]:
        path = path / part
        try:
            mode = os.stat(path).st_mode
        except OSError as e:
            if e.errno == errno.ENOENT and path.is_symlink():
                raise InputError(f"{flag} {folder}: {path} is a broken symbolic link") from None
            if e.errno == errno.ENOENT:
                break  # from here on, the folders are made
            raise InputError(f"{flag} {folder}: {path} {paths.problem(e)}") from None
        if not stat.S_ISDIR(mode):
            if path != folder.absolute():
                raise InputError(f"{flag} {folder} cannot be created: {path} is a file, not a folder")
            return
    try:
        limit = os.pathconf(path if path.exists() else path.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    too_long = [p for p in folder.parts if len(os.fsencode(p)) > limit]
    if too_long:
        raise InputError(f"{flag} {folder}: the name {too_long[0][:40]}... is longer than the {limit} bytes "
                         "a file name may have here")


def check_writable_folder(folder: Path, flag: str = "--out") -> None:
    """Raise InputError unless pe-bench may write into ``folder``: new, empty, or its own."""
    _check_path(folder, flag)
    for name in OWN_NAMES:  # pe-bench's own files must be files, or it cannot write them
        own = folder / name
        if os.path.lexists(own) and not own.is_file():
            raise InputError(f"{flag} {folder}: {own} is not a regular file; pe-bench keeps its {name} file there")
    if not folder.exists():
        ancestor = next(p for p in folder.absolute().parents if p.exists())
        if not ancestor.is_dir():
            raise InputError(f"{flag} {folder} cannot be created: {ancestor} is a file, not a folder")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise InputError(f"{flag} {folder} cannot be created: {ancestor} is not writable")
        return
    if not folder.is_dir():
        raise InputError(f"{flag} {folder} is an existing file; give a folder (created if missing)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {folder} is not writable")
    if _marked(folder):
        return
    entries = _entries(folder)
    if entries.owned or not (entries.foreign or entries.names):
        return
    # with nothing recognised, pe-bench's names (a manifest.json, a plots/) may well be the user's too
    others = entries.foreign if entries.recognised else sorted(entries.foreign + entries.names)
    shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    why = manifest.problem(folder) if os.path.lexists(folder / manifest.FILENAME) else None
    corrupt = f"; its {manifest.FILENAME} is not a pe-bench manifest ({why})" if why else ""
    raise InputError(f"{flag} {folder} holds files pe-bench did not write ({shown}){corrupt}; give a new or "
                     f"empty folder, or one pe-bench made (it holds a {MARKER} file)")


def claim(folder: Path) -> None:
    """Create ``folder`` if needed and mark it as pe-bench's (after ``check_writable_folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / MARKER).is_file():
        write_atomic(folder / MARKER, json.dumps({"pe_bench_results_folder": 1, "see": "README: Outputs"}) + "\n")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextmanager
def locked(folder: Path, command: str, on_wait: Callable[[str], None] = lambda message: None) -> Iterator[None]:
    """Hold the folder's write lock for the block; wait (after ``on_wait(message)``) while another run holds it."""
    path = folder / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
            on_wait(f"waiting for the run writing to {folder}/ to finish: {holder}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}, since {_now()}: {command}\n".encode(), 0)
        except OSError as e:  # a full disk: the lock is held all the same, only its note is missing
            if e.errno != errno.ENOSPC:
                raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the lock (and so does the process ending)
