"""What a path is, or what went wrong with it, in words for a one-line error message.

Shared by everything that reads a user's files (corpus, checkpoints, manifest, tables), so
a FIFO, a device, a symbolic link loop or a permission problem reads the same everywhere.
"""

from __future__ import annotations

import errno
import stat


def kind(mode: int) -> str:
    """What a file that is not a regular one is: "a folder", "a FIFO", "a character device", ..."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a file"


def problem(error: OSError) -> str:
    """What an OSError from stat, scandir or open says about the path: "does not exist", ..."""
    if error.errno == errno.ELOOP:
        return "is a symbolic link loop"
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return "does not exist"
    if isinstance(error, PermissionError):
        return "cannot be read (permission denied)"
    return f"cannot be read ({error.strerror or type(error).__name__})"
