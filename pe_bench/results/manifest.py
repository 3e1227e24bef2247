"""``<out>/manifest.json``: what produced the results in a folder.

Every run appends an entry — pe-bench version, git commit (if pe-bench runs from a git
checkout), torch version, device, threads, dtype, preset, every suite's full settings,
seeds, corpus and checksum, start and end times, the command line, the machine's load when
it started (``load_at_start``: pe_bench/machine.py), how it ended and how long each suite
took — and updates it when the run ends, interrupted or not. The file is
rewritten atomically.

A manifest is never silently replaced. ``check`` (before any work) and ``record`` move a
manifest that does not parse, or whose ``runs`` is not a list of runs, aside to
``manifest.json.corrupt-<UTC time>`` (never deleted) and say where it went; a manifest that
is a folder, a FIFO or anything else but a regular file, or that cannot be read, is an
InputError. The command is recorded shell-quoted, so it can be pasted back into a shell.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shlex
import stat
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from pe_bench import __version__
from pe_bench import paths
from pe_bench.errors import InputError
from pe_bench.machine import cpu_model, machine_load
from pe_bench.results.files import write_atomic

FILENAME = "manifest.json"


def now() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_commit(source: Path = Path(__file__).resolve().parents[1]) -> str | None:
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


def plain(value: Any) -> Any:
    """Settings dataclasses (with paths and tuples) as JSON values."""
    if dataclasses.is_dataclass(value):
        return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def new_entry(*, encodings: tuple[str, ...], suites: dict[str, Any], preset: str, runtime_record: dict[str, Any],
              seed: int | None, resume: bool, command: list[str] | None = None,
              **records: Any) -> dict[str, Any]:
    """The manifest entry of a run that is starting; ``records`` are what suites add (the corpus, ...)."""
    return {
        "pe_bench_version": __version__, "git_commit": git_commit(), "torch_version": torch.__version__,
        "python_version": sys.version.split()[0], "command": shlex.join(command if command is not None else sys.argv),
        "started_at": now(), "cpu": cpu_model(), "load_at_start": machine_load(), "ended_at": None, "status": "running",
        "encodings": list(encodings), "preset": preset, "seed": seed, "resume": resume, **runtime_record,
        "suites": {name: plain(settings) for name, settings in suites.items()},
        **plain(records), "suite_seconds": {}, "rows_written": {},
    }


class _Corrupt(Exception):
    """The manifest's text is not a manifest; the message says why."""


def _read(path: Path) -> list[dict[str, Any]] | None:
    """The runs in ``path``; None if it does not exist; _Corrupt if it does not parse as a manifest.

    InputError if it is not a regular file (never opened then: a FIFO does not hang) or cannot be read.
    """
    def refuse(mode: int) -> InputError:
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "not a regular file")
        return InputError(f"{path} is {kind}, not pe-bench's manifest; move it away or give another --out")

    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise refuse(mode)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # never blocks, should a FIFO appear meanwhile
    except FileNotFoundError:
        return None
    except OSError as e:
        raise InputError(f"{path} {paths.problem(e)}; fix it or give another --out") from None
    file = None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise refuse(mode)
        file = os.fdopen(fd, "rb")
        data = file.read()
    except OSError as e:
        raise InputError(f"{path} {paths.problem(e)}; fix it or give another --out") from None
    finally:
        if file is not None:
            file.close()
        else:
            os.close(fd)
    try:
        runs = json.loads(data.decode("utf-8"))["runs"]
    except UnicodeDecodeError:
        raise _Corrupt("it is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise _Corrupt(f"it is not JSON: {e.msg} at line {e.lineno}") from None
    except (ValueError, RecursionError) as e:  # a 5000-digit number, arrays nested 100000 deep
        raise _Corrupt(f"it is not JSON pe-bench can read ({type(e).__name__})") from None
    except (KeyError, TypeError):
        raise _Corrupt('it has no list of "runs"') from None
    if not isinstance(runs, list) or not all(isinstance(run, dict) for run in runs):
        raise _Corrupt('its "runs" is not a list of runs')
    return runs


def move_aside(path: Path, why: str) -> str:
    """Rename ``path`` to ``<name>.corrupt-<UTC time>`` (never over an existing file); the one-line notice."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1000):
        target = path.with_name(f"{path.name}.corrupt-{stamp}" + (f"-{n}" if n else ""))
        try:
            os.link(path, target)  # fails if target exists: nothing is ever overwritten
        except FileExistsError:
            continue
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise InputError(f"{path} is not a readable manifest ({why}) and could not be moved aside to {target} "
                                 f"({e.strerror}); move it away yourself") from None
            if os.path.lexists(target):  # a file system without hard links: rename, checking first
                continue
            try:
                os.rename(path, target)
            except OSError as e2:
                raise InputError(f"{path} is not a readable manifest ({why}) and could not be moved aside to {target} "
                                 f"({e2.strerror}); move it away yourself") from None
        else:
            path.unlink()
        return f"{path} is not a readable manifest ({why}); moved it to {target} and starting a new one"
    raise InputError(f"{path} is not a readable manifest ({why}) and too many corrupt copies are next to it; "
                     f"move them away")


def check(out: Path) -> str | None:
    """Before any work: ``out``'s manifest is readable and parses, or is moved aside.

    Returns None when there is nothing to say (no manifest, or a good one), or a one-line
    notice saying where a corrupt manifest was moved (``manifest.json.corrupt-<UTC time>``).
    InputError if the manifest is a folder, a FIFO, anything but a regular file, or cannot be read.
    """
    path = out / FILENAME
    try:
        _read(path)
    except _Corrupt as e:
        return move_aside(path, str(e))
    return None


def problem(out: Path) -> str | None:
    """Why ``out``'s manifest is not a readable pe-bench manifest ("it is not JSON: ..."), or None
    when it is one or there is none. Changes nothing (``check`` is what moves it aside)."""
    try:
        _read(out / FILENAME)
    except _Corrupt as e:
        return str(e)
    except InputError:  # a folder, a FIFO, unreadable: ``check`` says which, in full
        return "it is not a regular file pe-bench can read"
    return None


def runs(out: Path) -> list[dict[str, Any]]:
    """The runs recorded in ``out``'s manifest, oldest first; [] if there is none or it does not parse
    (``check`` moves such a manifest aside). InputError if it is not a regular file or cannot be read."""
    try:
        return _read(out / FILENAME) or []
    except _Corrupt:
        return []


def record(out: Path, entry: dict[str, Any]) -> str | None:
    """Add ``entry`` to ``out``'s manifest, or replace it if it is already the last one.

    Earlier runs are never dropped: a manifest that no longer parses is moved aside first
    (see ``check``) and the notice saying where is returned; otherwise None.
    """
    path = out / FILENAME
    notice = None
    try:
        runs = _read(path) or []
    except _Corrupt as e:
        notice = move_aside(path, str(e))
        runs = []
    if runs and runs[-1].get("started_at") == entry["started_at"] and runs[-1].get("command") == entry["command"]:
        runs[-1] = entry
    else:
        runs.append(entry)
    write_atomic(path, json.dumps({"runs": runs}, indent=2) + "\n")
    return notice


def contributing_runs(out: Path, suites: dict[str, tuple[Any, tuple[str, ...]]],
                      runtime_record: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs in ``out``'s manifest that wrote rows a report of ``suites`` shows, oldest first.

    ``suites`` maps a suite's name to (its settings, its table names). A run counts for a suite
    when it ran that suite with the same settings (``retrain`` aside) on the same device, dtype
    and threads, and wrote rows into one of its tables. Each run comes back as its command,
    start, status and {suite: rows written}: after ``--resume``, the earlier run that measured
    most rows is named beside the one that finished them.
    """
    def same(a: Any, b: Any) -> bool:
        strip = (lambda d: {k: v for k, v in d.items() if k != "retrain"}) if isinstance(a, dict) else (lambda d: d)
        return isinstance(a, dict) and isinstance(b, dict) and strip(a) == strip(b)

    found = []
    for run in runs(out):
        if any(run.get(k) != runtime_record.get(k) for k in ("device", "dtype", "threads")):
            continue
        written = run.get("rows_written") if isinstance(run.get("rows_written"), dict) else {}
        theirs = run.get("suites") if isinstance(run.get("suites"), dict) else {}
        rows = {name: sum(int(written.get(t, 0)) for t in tables) for name, (settings, tables) in suites.items()
                if same(theirs.get(name), plain(settings))}
        if any(rows.values()):
            found.append({"command": run.get("command", "?"), "started_at": run.get("started_at", "?"),
                          "status": run.get("status", "?"), "rows": {k: v for k, v in rows.items() if v}})
    return found
