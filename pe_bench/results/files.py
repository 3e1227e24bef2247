"""Atomic writes: a temporary file in the same folder, renamed over the target.

An interrupted run leaves either the old file or the new one, never half of one. A
temporary is named ``.<target>.pe-bench.<pid>.<random>.tmp``, after the process that
writes it, so a later run can tell one that a killed run left behind (its process is gone)
from one that a running process is still writing, and remove only the former
(``remove_stale_temporaries``). A write that fails — disk full, a read-only folder —
removes its temporary, leaves the target as it was and raises ``OutputError``.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from pe_bench.errors import InputError, OutputError

#: the subfolders of a results folder that pe-bench writes into atomically
SUBFOLDERS = ("plots", "checkpoints", "pending")

_TEMPORARY = re.compile(r"\.(?P<target>.+)\.pe-bench\.(?P<pid>[1-9][0-9]{0,9})\.[0-9a-f]{8}\.tmp")


def temporary_name(target: str, pid: int | None = None) -> str:
    """The name of a new temporary for ``target`` (a file name), written by process ``pid``."""
    # the target's part is cut short so that a long target name still leaves room (255 bytes)
    return f".{target[:100]}.pe-bench.{os.getpid() if pid is None else pid}.{secrets.token_hex(4)}.tmp"


def is_temporary_name(name: str) -> bool:
    """True for a name ``temporary_name`` makes: a temporary of pe-bench's, finished or not."""
    return _TEMPORARY.fullmatch(name) is not None


def _create_temporary(path: Path) -> Path:
    """Create an empty, owner-only temporary file next to ``path``; never reuses an existing name."""
    while True:
        tmp = path.parent / temporary_name(path.name)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        try:
            os.close(fd)
        except BaseException:
            with suppress(OSError):
                tmp.unlink()
            raise
        return tmp


def _final_mode(path: Path) -> int:
    """The permission bits the new file gets: the replaced file's, or what a plain ``open`` gives."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:  # no file to replace (or a broken link): ordinary permissions
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path`` to write to; renamed over ``path`` when the block ends.

    If the block raises (or is interrupted) the temporary file is removed and ``path`` is
    left as it was; an ``OSError`` (disk full, a read-only folder, a folder that is a file)
    becomes ``OutputError("cannot write <path>: <reason>")``. The new file keeps the
    permission bits of the file it replaces (a read-only table stays read-only); a new file
    gets the permissions a plain ``open`` would give it.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _create_temporary(path)
        yield tmp
        os.chmod(tmp, _final_mode(path))  # the temporary is owner-only until now
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            with suppress(OSError):
                tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, OutputError):
            raise _output_error(path, e) from e
        raise


def _output_error(path: Path, error: OSError) -> OutputError:
    failure = OutputError(f"cannot write {path}: {_reason(error)}")
    failure.errno = error.errno
    return failure


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    with atomic_target(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def check_subfolder(path: Path, holds: str) -> None:
    """Before any work: a subfolder pe-bench writes into (``SUBFOLDERS``) is a real folder or does not exist yet:
    never a file, and never a symbolic link, which would send ``holds`` into a folder pe-bench does not own."""
    if path.is_symlink():
        raise InputError(f"{path} is a symbolic link; pe-bench keeps {holds} in a folder of its own there")
    if path.exists() and not path.is_dir():
        raise InputError(f"{path} is not a folder; pe-bench keeps {holds} there: move it away or give another --out")


def _pid_is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # another user's process (EPERM), or a pid we cannot ask about: keep it
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporaries that killed pe-bench processes left in ``folder``; return them.

    Looks in ``folder`` and its subfolders (``SUBFOLDERS``), at regular files
    named like ``atomic_target``'s temporaries only, and deletes those whose process is no
    longer running. A running process's temporaries and every other file (a user's
    ``.notes.tmp`` included) are never touched. A folder that is missing or cannot be read,
    or a file that cannot be deleted, is passed over: this is housekeeping, not a check.
    """
    removed: list[Path] = []
    for place in (Path(folder), *(Path(folder) / name for name in SUBFOLDERS)):
        try:
            entries = list(os.scandir(place))
        except OSError:
            continue
        for entry in entries:
            match = _TEMPORARY.fullmatch(entry.name)
            if match is None:
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
            except OSError:
                continue
            pid = int(match["pid"])
            if pid == os.getpid() or _pid_is_running(pid):
                continue
            try:
                os.unlink(entry.path)
            except FileNotFoundError:  # another run cleaned it first
                continue
            except OSError:
                continue
            removed.append(place / entry.name)
    return removed
