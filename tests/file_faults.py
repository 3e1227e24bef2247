"""Faults the tests inject into the file system (not a test module).

We run as root, where permissions do not stop a read, so "unreadable" is simulated: every
way pe-bench opens or lists a path raises PermissionError for it. ``deadline`` turns a hang
(a read of a FIFO blocks forever) into a failure.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import signal
from contextlib import contextmanager
from pathlib import Path


def unreadable(monkeypatch, *paths: Path) -> None:
    """Opening (``os.open``, ``open``, ``io.open``) or listing (``os.scandir``) any of ``paths`` raises PermissionError."""
    blocked = {os.fspath(p) for p in paths}

    def wrap(function):
        def guarded(path, *args, **kwargs):
            if isinstance(path, (str, bytes, os.PathLike)) and os.fsdecode(path) in blocked:
                raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))
            return function(path, *args, **kwargs)
        return guarded

    for module, name in ((os, "open"), (os, "scandir"), (builtins, "open"), (io, "open")):
        monkeypatch.setattr(module, name, wrap(getattr(module, name)))


@contextmanager
def deadline(seconds: int = 10):
    """Fail, instead of hanging, when the block takes longer than ``seconds``."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: blocked on a FIFO?")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
