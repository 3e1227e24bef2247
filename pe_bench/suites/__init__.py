"""The benchmark suites and their registry.

A suite turns (encodings, settings, runtime) into result rows. It is described by a
``Suite`` record: the tables it writes, how to build its settings from a preset and
overrides (validating them before anything runs), the generator that measures, and how
to render its rows as a terminal table. The CLI's ``--suite`` choices come from ``SUITES``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
from rich.table import Table

from pe_bench.progress import Progress
from pe_bench.results import Schema
from pe_bench.runtime import Runtime

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Suite:
    """One benchmark suite, as the runner and the CLI see it."""

    name: str
    description: str
    tables: tuple[Schema, ...]
    #: (preset, **overrides) -> settings; raises InputError on bad values; None overrides are ignored
    settings: Callable[..., Any]
    #: (encodings, settings, runtime, progress) -> (table, rows) batches, each saved as soon as it arrives
    run: Callable[[tuple[str, ...], Any, Runtime, Progress], Iterator[tuple[Schema, Rows]]]
    #: rows of this run, by table name -> a terminal table
    render: Callable[[dict[str, pd.DataFrame]], Table]
    #: CLI options that only this suite reads
    options: tuple[str, ...] = ()
    #: how many progress tasks a run of n encodings has (for the overall bar)
    count_tasks: Callable[[int], int] = lambda n: 1


def _registry() -> dict[str, Suite]:
    from pe_bench.suites import kvcache, speed

    return {s.name: s for s in (speed.SUITE, kvcache.SUITE)}


SUITES: dict[str, Suite] = _registry()
