"""Progress reporting that the library can call and the CLI can draw.

The runner wraps each suite in ``stage(name)``: one step of the overall bar. Suites open
``task(description, total)`` for each piece of work; the returned context yields
``advance(n=1, **fields)``, and the fields (e.g. ``loss=2.31``) are shown beside the bar.
The default class draws nothing, so library users and tests get no output; the CLI passes
``RichProgress`` to a terminal (one overall bar, with a bar per running task beneath it) and
``LogProgress`` to a log or a pipe (a bar redraws in place, so a log would hold nothing useful):
one plain line per finished task and suite, with its time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import time
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as _RichProgress, TextColumn, TimeElapsedColumn

Advance = Callable[..., None]


class Progress:
    """No output: the default for library calls and tests."""

    @contextmanager
    def stage(self, description: str) -> Iterator[None]:
        yield

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Advance]:
        yield lambda n=1, **fields: None

    def note(self, message: str) -> None:
        """A line for the user while work goes on (e.g. waiting for another run's lock)."""

    def finished(self, table: Callable[[], Any]) -> None:
        """A finished stage's table (a callable making a rich renderable, or None): a log prints it
        as the stage ends; a terminal, whose bars show the run, gets every table at the end."""


class RichProgress(Progress):
    """An overall bar over ``stages`` and, beneath it, a bar per running task."""

    def __init__(self, console: Console, stages: int, title: str = "pe-bench") -> None:
        self._bars = _RichProgress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"), console=console,
        )
        self._title = title
        self._overall = self._bars.add_task(title, total=stages, info="")

    def __enter__(self) -> RichProgress:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.stop()

    def note(self, message: str) -> None:
        self._bars.console.print(message, markup=False, highlight=False)

    @contextmanager
    def stage(self, description: str) -> Iterator[None]:
        self._bars.update(self._overall, info=description)
        try:
            yield
        finally:
            self._bars.advance(self._overall)

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Advance]:
        bar = self._bars.add_task(f"  {description}", total=total, info="")

        def advance(n: int = 1, **fields: object) -> None:
            info = " ".join(f"{k}={v}" for k, v in fields.items())
            self._bars.update(bar, advance=n, **({"info": info} if fields else {}))

        try:
            yield advance
        finally:
            self._bars.remove_task(bar)


class LogProgress(Progress):
    """One plain line per finished task and per finished stage, for output that is not a terminal."""

    def __init__(self, console: Console, stages: int, title: str = "pe-bench") -> None:
        self._console, self._stages, self._title, self._done = console, stages, title, 0

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def _line(self, text: str) -> None:
        self._console.print(f"[{time.strftime('%H:%M:%S')}] {text}", markup=False, highlight=False, soft_wrap=True)

    def note(self, message: str) -> None:
        self._line(message)

    def finished(self, table: Callable[[], Any]) -> None:
        if (made := table()) is not None:
            self._console.print(made)

    @contextmanager
    def stage(self, description: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self._done += 1
            self._line(f"{self._title}: {description} finished ({self._done} of {self._stages}, "
                       f"{time.perf_counter() - start:.0f} s)")

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Advance]:
        start, fields_seen = time.perf_counter(), {}

        def advance(n: int = 1, **fields: object) -> None:
            fields_seen.update(fields)

        yield advance
        info = "".join(f", {k}={v}" for k, v in fields_seen.items())
        self._line(f"  {description}: done ({time.perf_counter() - start:.1f} s{info})")


def progress_for(console: Console, stages: int, title: str = "pe-bench") -> Progress:
    """Bars on a terminal, plain lines in a log or a pipe."""
    return (RichProgress if console.is_terminal else LogProgress)(console, stages, title)
