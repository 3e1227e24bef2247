"""What a benchmark suite is: the record the registry holds, and what every suite shares.

A suite declares, as data, everything the rest of pe-bench needs to know about it:

- its **options** (``Option``: name, type, parser, help, choices): the CLI builds the
  options of ``run`` and ``compare`` from them, and the runner knows which suite reads which;
- its **presets** and how to **validate** settings: ``Suite.settings(preset, **overrides)``;
- its **tables** (``Schema``: typed columns and key columns): the runner validates, merges,
  resumes and reads them back;
- what it adds to the cross-suite **summary** (``SummaryPart``, from results/summary.py);
- which **figures** it draws (``FigureSpec``, from figures/common.py);
- how its rows look on the terminal (``render``), kept apart from the code that measures.

The runner, the summary, the CLI and the figures loop over ``pe_bench.suites.SUITES`` and
name no suite, so a new suite is one module that builds a ``Suite`` plus one registry line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import RenderableType

from pe_bench.figures.common import FigureSpec
from pe_bench.options import check_choice
from pe_bench.progress import Progress
from pe_bench.results.summary import SummaryPart
from pe_bench.results.schema import Schema
from pe_bench.results.tables import key_strings, key_text
from pe_bench.runtime import Runtime

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Option:
    """A setting a user can override from the command line (``--seq-lens 128,256``).

    ``parse(value, flag)`` turns the CLI's value into the settings field's value and raises
    InputError on bad input (parsers in options.py); the suite's ``validate`` checks what
    depends on other settings. A Python caller passes the parsed value directly.
    """

    name: str  # the settings field, e.g. "seq_lens"; the flag is --seq-lens
    help: str
    parse: Callable[[Any, str], Any]
    type: type = str  # what the command line reads: str, int, Path or bool
    choices: tuple[str, ...] = ()  # fixed values, shown in --help
    is_list: bool = False  # a comma-separated list ("sdpa,flex")
    is_flag: bool = False  # a switch: absent means "the preset decides"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


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


def _no_check(encodings: tuple[str, ...], settings: Any, out: Path, runtime: Runtime) -> None:
    return None


def _nothing_to_record(settings: Any) -> dict[str, Any]:
    return {}


def _no_memory(settings: Any) -> tuple[int, str]:
    return 0, ""


@dataclass(frozen=True)
class Suite:
    """One benchmark suite, as the runner, the CLI, the summary and the figures see it."""

    name: str
    description: str
    tables: tuple[Schema, ...]
    options: tuple[Option, ...]
    #: preset name -> settings (a frozen dataclass with a ``seed`` field, or ``seeds`` if it trains: seeds.py)
    presets: Mapping[str, Any]
    #: raises InputError for settings that cannot run (a window larger than a context, ...)
    validate: Callable[[Any], None]
    #: (encodings, settings, context) -> (table, rows) batches, each saved as soon as it arrives
    run: Callable[[tuple[str, ...], Any, RunContext], Iterator[tuple[Schema, Rows]]]
    #: this run's rows, by table name -> what the terminal shows
    render: Callable[[dict[str, pd.DataFrame]], RenderableType]
    #: (settings, runtime) -> {table name: {column: value}}: the column values that identify this
    #: run's configuration in each table, so reports never mix rows of another setting; a tuple
    #: value keeps rows with any of its values (the seeds of a training suite)
    selects: Callable[[Any, Runtime], dict[str, dict[str, Any]]]
    summary: SummaryPart
    figures: tuple[FigureSpec, ...] = ()
    #: (encodings, settings, out, runtime) -> None; raises InputError for saved state that would
    #: fail later (e.g. a corrupt checkpoint), so that bad input stops the run before any work
    check: Callable[[tuple[str, ...], Any, Path, Runtime], None] = _no_check
    #: settings -> extra fields for the run's manifest entry (e.g. the corpus and its checksum)
    record: Callable[[Any], dict[str, Any]] = _nothing_to_record
    #: settings -> (estimated peak bytes, the shape that needs them): checked against the memory
    #: the machine has before any work, so an absurd length is refused instead of running out
    memory: Callable[[Any], tuple[int, str]] = _no_memory

    def settings(self, preset: str, **overrides: Any) -> Any:
        """The preset's settings with the non-None ``overrides`` applied, validated."""
        check_choice(preset, "preset", self.presets)
        settings = replace(self.presets[preset], **{k: v for k, v in overrides.items() if v is not None})
        self.validate(settings)
        return settings

    def option_names(self) -> tuple[str, ...]:
        return tuple(option.name for option in self.options)

    @property
    def trains(self) -> bool:
        """True for a suite that trains models, i.e. declares the ``seeds`` option (seeds.py):
        it trains every seed separately, and under torchrun every rank takes part (DDP or a
        sweep, ranks.py); a suite that does not train runs on rank 0 alone."""
        return "seeds" in self.option_names()


def with_nope(encodings: tuple[str, ...]) -> tuple[str, ...]:
    """The encodings, with NoPE added (first) if missing: every ratio to NoPE needs it."""
    return encodings if "nope" in encodings else ("nope", *encodings)
