"""The benchmark suites and their registry.

A suite turns (encodings, settings, context) into result rows. It is described by a
``Suite`` record: the tables it writes, how to build its settings from a preset and
overrides (validating them before anything runs), the generator that measures, and how
to render its rows on the terminal. The CLI's ``--suite`` choices come from ``SUITES``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import RenderableType

from pe_bench.progress import Progress
from pe_bench.results import Schema, key_strings, key_text
from pe_bench.runtime import Runtime

Rows = list[dict[str, Any]]


@dataclass
class Existing:
    """Rows already saved in the output folder, for ``--resume``; empty means "skip nothing"."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def has(self, schema: Schema, keys: list[dict[str, Any]]) -> bool:
        """True if every key (a dict of column -> value) matches a saved row of ``schema``."""
        df = self.tables.get(schema.name)
        if df is None or not len(df) or not keys:
            return False
        columns = list(keys[0])
        saved = set(key_strings(df, columns))
        return all("\x1f".join(key_text(key[c]) for c in columns) in saved for key in keys)


@dataclass
class RunContext:
    """What every suite gets besides its settings: where and how it runs, and what is done."""

    runtime: Runtime
    out: Path = Path("results")
    progress: Progress = field(default_factory=Progress)
    existing: Existing = field(default_factory=Existing)


@dataclass(frozen=True)
class Suite:
    """One benchmark suite, as the runner and the CLI see it."""

    name: str
    description: str
    tables: tuple[Schema, ...]
    #: (preset, **overrides) -> settings; raises InputError on bad values; None overrides are ignored
    settings: Callable[..., Any]
    #: (encodings, settings, context) -> (table, rows) batches, each saved as soon as it arrives
    run: Callable[[tuple[str, ...], Any, RunContext], Iterator[tuple[Schema, Rows]]]
    #: rows of this run, by table name -> what the terminal shows
    render: Callable[[dict[str, pd.DataFrame]], RenderableType]
    #: CLI options that only this suite reads
    options: tuple[str, ...] = ()
    #: (settings, runtime) -> {table name: {column: value}}: the column values that identify this
    #: run's configuration in each table, so reports never mix rows of another setting
    selects: Callable[[Any, Runtime], dict[str, dict[str, Any]]] = lambda settings, runtime: {}
    #: (encodings, settings, out, runtime) -> None; raises InputError for state that would fail
    #: later (e.g. a corrupt checkpoint), so that bad input stops the run before any work
    check: Callable[[tuple[str, ...], Any, Path, Runtime], None] = lambda encodings, settings, out, runtime: None


def with_nope(encodings: tuple[str, ...]) -> tuple[str, ...]:
    """The encodings, with NoPE added (first) if missing: every ratio to NoPE needs it."""
    return encodings if "nope" in encodings else ("nope", *encodings)


def _registry() -> dict[str, Suite]:
    from pe_bench.suites import extrapolation, kvcache, speed

    return {s.name: s for s in (speed.SUITE, kvcache.SUITE, extrapolation.SUITE)}


SUITES: dict[str, Suite] = _registry()
