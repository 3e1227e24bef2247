"""What a path is, or what went wrong with it, in words for a one-line error message.

Shared by everything that reads a user's files (corpus, checkpoints, manifest, tables), so
a FIFO, a device, a symbolic link loop or a permission problem reads the same everywhere.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO


#: (test on a mode, what such a path is), in the order they are tried
_KINDS = ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def kind(mode: int) -> str:
    """What a path is, from its mode: "a regular file", "a folder", "a FIFO", "a character device", ..."""
    return next((name for test, name in _KINDS if test(mode)), "not a file")


def problem(error: OSError) -> str:
    """What an OSError from stat, scandir or open says about the path: "does not exist", ..."""
    if error.errno == errno.ELOOP:
        return "is a symbolic link loop"
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return "does not exist"
    if isinstance(error, PermissionError):
        return "cannot be read (permission denied)"
    return f"cannot be read ({error.strerror or type(error).__name__})"


class NotRegularFile(OSError):
    """A path that is a folder, a FIFO, a device or a socket where a regular file was expected."""

    def __init__(self, path: Path, mode: int) -> None:
        super().__init__(f"{path} is {kind(mode)}, not a regular file")
        self.mode = mode


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading in binary, if it is a regular file.

    Anything else is refused from its ``stat`` without being opened (a FIFO would block a
    reader forever): ``NotRegularFile``. The open itself does not block either, and the open
    file is checked again, in case something else was put in its place in between. Other
    problems are the OSError the system gives (``problem`` says it in words).
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFile(path, mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
