"""Exceptions that carry a message meant for the user.

The CLI turns ``InputError`` and ``OutputError`` into a one-line message and exit code 2;
suites turn ``Unsupported`` into a result row with ``supported = false`` and the reason, and go on.
"""

from __future__ import annotations


class PeBenchError(Exception):
    """Base class for errors pe-bench raises on purpose."""


class InputError(PeBenchError, ValueError):
    """Bad input from the user: a name, a number or a path that is not allowed."""


class OutputError(PeBenchError, OSError):
    """A file pe-bench could not write (disk full, read-only folder, ...): "cannot write <path>: <reason>".

    An ``OSError`` too, with the ``errno`` of the failure, so code that catches OSError around
    a write still does. The file it was replacing is left as it was.
    """


class Unsupported(PeBenchError):
    """A combination that cannot run here (e.g. flex backward on CPU); the reason is the message."""


class PositionOutOfRange(Unsupported, ValueError):
    """A position the encoding has no entry for (learned absolute past its table)."""
