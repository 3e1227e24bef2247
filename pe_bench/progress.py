"""Progress reporting that the library can call and the CLI can draw.

The runner wraps each suite in ``stage(name)``: one step of the overall bar. Suites open
``task(description, total)`` for each piece of work; the returned context yields
``advance(n=1, **fields)``, and the fields (e.g. ``loss=2.31``) are shown beside the bar.
The default class draws nothing, so library users and tests get no output; the CLI passes
``RichProgress``: one overall bar, with a bar per running task beneath it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

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
