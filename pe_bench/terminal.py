"""Tables that fit: on a terminal within its width, in a log or a pipe at full width; never cut.

Rich cuts a cell it cannot fit with an ellipsis. ``fit`` makes every column of a table (and
of the tables inside a ``Group``) fold instead: a long value continues on the next line of its
cell, so every character is shown. ``console`` gives a terminal its own width and anything
else (a log, ``| tee``, CI) a width no table reaches, so a log holds each row on one line.
"""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table

#: the width of output that is not a terminal: wider than any table pe-bench prints
LOG_WIDTH = 1000


def console(quiet: bool = False) -> Console:
    """The console pe-bench prints to: the terminal's width, or LOG_WIDTH when stdout is not a terminal.
    Markup is off: names such as ``[rope,nope]`` (a schedule) would otherwise be read as styles and vanish."""
    probe = Console()
    return Console(quiet=quiet, width=None if probe.is_terminal else LOG_WIDTH, markup=False)


def fit(renderable: RenderableType) -> RenderableType:
    """``renderable`` with every table's columns folding long values instead of cutting them (in place)."""
    if isinstance(renderable, Table):
        for column in renderable.columns:
            column.overflow = "fold"
            column.no_wrap = False
    elif isinstance(renderable, Group):
        for inner in renderable.renderables:
            fit(inner)
    return renderable
