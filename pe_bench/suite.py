"""What a benchmark suite is: the class every suite subclasses, and what every suite shares.

A suite is a subclass of ``Suite`` in its own folder (``pe_bench/suites/<name>/``), registered
with one line in ``pe_bench/suites/__init__.py``. It declares, as class attributes:

- its **presets**: preset name -> a frozen settings dataclass; the fields declared with
  ``pe_bench.options.option(...)`` are its command-line options (type, default, help,
  choices), read back by ``options``; a suite that trains has a ``seeds`` field (seeds.py);
- its **tables** (``Schema``: typed columns, key columns, and which key columns one run
  shares, ``Schema.run_key``): the runner validates, merges, resumes and reads them back;
- what it adds to the cross-suite **summary** (``SummaryPart``, from results/summary.py);
- which **figures** it draws (``FigureSpec``, from figures/common.py);

and implements ``run`` (measure, yielding rows as they finish) and ``render`` (how its rows
look on the terminal), and where it needs them ``validate``, ``run_values``, ``check``,
``record``, ``memory``, ``scalars`` (its rows as TensorBoard scalars) and ``sweep_phases`` (how a
sweep deals its work out). What identifies a run's rows is said once: ``run_values`` gives the
values of the tables' ``run_key`` columns, from which both ``--resume`` (``RunContext.done``)
and the rows a report selects (``selects``) follow.

The runner, the summary, the CLI and the figures loop over ``pe_bench.suites.SUITES`` and
name no suite.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from rich.console import RenderableType

from pe_bench.encodings import build_encoding
from pe_bench.errors import InputError
from pe_bench.figures.common import FigureSpec
from pe_bench.model import ModelConfig, too_shallow
from pe_bench.options import Option, check_choice, options_of
from pe_bench.progress import Progress
from pe_bench.results.summary import SummaryPart
from pe_bench.results.schema import Schema
from pe_bench.results.tables import key_strings, key_text
from pe_bench.runtime import Runtime
from pe_bench.tensorboard import Board, Scalar

Rows = list[dict[str, Any]]
#: one job of a sweep: (encodings, settings), which one rank runs alone
Job = tuple[tuple[str, ...], Any]


def sweep_jobs(encodings: tuple[str, ...], seeds: tuple[int, ...]) -> list[tuple[str, int]]:
    """The independent training jobs of a sweep: every (encoding, seed) pair, seed by seed."""
    return [(name, seed) for seed in seeds for name in encodings]


@dataclass
class Existing:
    """Rows already saved in the output folder, for ``--resume``; empty means "skip nothing"."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def has(self, schema: Schema, keys: list[dict[str, Any]],
            where: Callable[[pd.DataFrame], pd.Series] | None = None) -> bool:
        """True if every key (a dict of column -> value) matches a saved row of ``schema`` (one that
        ``where`` keeps, if given)."""
        df = self.tables.get(schema.name)
        if df is not None and where is not None and len(df):
            df = df[where(df)]
        if df is None or not len(df) or not keys:
            return False
        columns = list(keys[0])
        saved = set(key_strings(df, columns))
        return all("\x1f".join(key_text(key[c]) for c in columns) in saved for key in keys)

    def plus(self, batches: Iterable[tuple[Schema, Rows]]) -> Existing:
        """These rows as if saved too: a sweep's later phase skips what any rank measured before it."""
        tables = dict(self.tables)
        for schema, rows in batches:
            if rows:
                new = pd.DataFrame(rows)
                old = tables.get(schema.name)
                tables[schema.name] = new if old is None or not len(old) else pd.concat([old, new], ignore_index=True)
        return Existing(tables)


@dataclass
class RunContext:
    """What a suite's ``run`` gets besides its settings: where and how it runs, and what is done."""

    runtime: Runtime
    out: Path = Path("results")
    progress: Progress = field(default_factory=Progress)
    existing: Existing = field(default_factory=Existing)
    #: the suite's ``run_values`` for this run (the runner fills them): the ``run_key`` columns' values
    values: dict[str, Any] = field(default_factory=dict)
    #: ``--tensorboard``: where training hands its steps (``board.steps(run)``); by default nowhere
    board: Board = field(default_factory=Board)

    def done(self, schema: Schema, keys: list[dict[str, Any]],
             where: Callable[[pd.DataFrame], pd.Series] | None = None) -> bool:
        """True if ``--resume`` finds every row of ``keys`` saved (among the rows ``where`` keeps): each key
        gives the columns of ``schema.key`` that vary within a run, the run's values give the rest (``run_key``)."""
        if not self.existing.tables.get(schema.name, pd.DataFrame()).shape[0]:
            return False
        full = [{**{c: self.values[c] for c in schema.run_key}, **key} for key in keys]
        for key in full:
            if set(key) != set(schema.key):
                raise TypeError(f"{schema.name}: a resume key names {sorted(key)}, the schema's key "
                                f"{sorted(schema.key)}")
        return self.existing.has(schema, full, where)


class Suite(ABC):
    """One benchmark suite, as the runner, the CLI, the summary and the figures see it."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: preset name -> settings (a frozen dataclass whose ``option()`` fields are the CLI's options)
    presets: ClassVar[Mapping[str, Any]]
    tables: ClassVar[tuple[Schema, ...]]
    summary: ClassVar[SummaryPart]
    figures: ClassVar[tuple[FigureSpec, ...]] = ()

    @abstractmethod
    def run(self, encodings: tuple[str, ...], settings: Any, ctx: RunContext) -> Iterator[tuple[Schema, Rows]]:
        """Measure ``encodings`` with ``settings``; yield (table, rows) batches, each saved as soon
        as it arrives. Rows whose keys ``ctx.done`` finds saved (``--resume``) are not measured again."""

    @abstractmethod
    def render(self, tables: dict[str, pd.DataFrame]) -> RenderableType:
        """This run's rows, by table name -> what the terminal shows."""

    def validate(self, settings: Any) -> None:
        """Raise InputError for settings that cannot run (a window larger than a context, ...)."""

    def run_values(self, settings: Any, runtime: Runtime) -> dict[str, Any]:
        """The values of every ``run_key`` column of this suite's tables for ``settings`` on ``runtime``:
        the columns every row of one run shares. A tuple value stands for any of its values (the
        seeds of a training suite; each row names its own)."""
        return {"device": runtime.device_name, "dtype": runtime.dtype_name, "threads": runtime.threads}

    def check(self, encodings: tuple[str, ...], settings: Any, out: Path, runtime: Runtime) -> None:
        """Raise InputError for saved state that would fail later (e.g. a corrupt checkpoint), so
        that bad input stops the run before any work."""

    def model_configs(self, settings: Any) -> tuple[ModelConfig, ...]:
        """The shapes of the models this suite builds for ``settings`` (none for a suite that builds none)."""
        return ()

    def check_encodings(self, encodings: tuple[str, ...], settings: Any) -> None:
        """Every encoding builds at every model shape of this suite (a window inside its length, ...), or
        InputError before any work; a schedule deeper than a model is left to its unsupported rows."""
        for config in self.model_configs(settings):
            for name in encodings:
                if too_shallow(name, config) is None:
                    try:
                        build_encoding(name, d_model=config.d_model, n_heads=config.n_heads, max_len=config.max_len,
                                       causal=config.causal, **config.encoding_options)
                    except InputError as e:
                        raise InputError(f"the {self.name} suite's model (length {config.max_len}): {e}") from None

    def sweep_phases(self, encodings: tuple[str, ...], settings: Any) -> list[list[Job]]:
        """Under ``--distribute sweep`` (and ``--jobs``), the work as phases of independent jobs: a phase's
        jobs are dealt out over the ranks, and the next phase starts once every rank has ended this one,
        with every row of it seen as saved (``ctx.done``). By default one phase, a job per (encoding, seed)."""
        return [[((name,), replace(settings, seeds=(seed,))) for name, seed in sweep_jobs(encodings, settings.seeds)]]

    def record(self, settings: Any) -> dict[str, Any]:
        """Extra fields for the run's manifest entry (e.g. the corpus and its checksum)."""
        return {}

    def scalars(self, schema: Schema, rows: Rows) -> list[Scalar]:
        """What ``--tensorboard`` shows of a batch of rows of ``schema``: each model's evaluation per
        length, in the run its training logs to (pe_bench/tensorboard.py); none by default."""
        return []

    def memory(self, settings: Any) -> tuple[int, str]:
        """(estimated peak bytes, the shape that needs them): checked against the machine's memory
        before any work, so an absurd length is refused instead of running out."""
        return 0, ""

    # --- derived from the declarations above; a suite does not override these

    @property
    def settings_type(self) -> type:
        return type(next(iter(self.presets.values())))

    @property
    def options(self) -> tuple[Option, ...]:
        """The settings fields a user can set from the command line."""
        return options_of(self.settings_type)

    def option_names(self) -> tuple[str, ...]:
        return tuple(option.name for option in self.options)

    @property
    def trains(self) -> bool:
        """True for a suite that trains models, i.e. whose settings have ``seeds`` (seeds.py): it
        trains every seed separately, and under torchrun every rank takes part (DDP or a sweep,
        ranks.py); a suite that does not train runs on rank 0 alone."""
        return "seeds" in {f.name for f in fields(self.settings_type)}

    def settings(self, preset: str, **overrides: Any) -> Any:
        """The preset's settings with the non-None ``overrides`` applied, validated."""
        check_choice(preset, "preset", self.presets)
        settings = replace(self.presets[preset], **{k: v for k, v in overrides.items() if v is not None})
        self.validate(settings)
        return settings

    def context(self, settings: Any, ctx: RunContext) -> RunContext:
        """``ctx`` with this suite's run values for ``settings``: what ``run`` gets from the runner."""
        return replace(ctx, values=self.run_values(settings, ctx.runtime))

    def selects(self, settings: Any, runtime: Runtime) -> dict[str, dict[str, Any]]:
        """{table: {column: value}}: the rows of this run's configuration in each table, so reports
        never mix rows of another setting (a tuple value keeps rows with any of its values)."""
        values = self.run_values(settings, runtime)
        missing = {c for schema in self.tables for c in schema.run_key} - set(values)
        if missing:
            raise TypeError(f"suite {self.name}: run_values gives no value for the run_key columns {sorted(missing)}")
        return {schema.name: {c: values[c] for c in schema.run_key} for schema in self.tables}


def with_nope(encodings: tuple[str, ...]) -> tuple[str, ...]:
    """The encodings, with NoPE added (first) if missing: every ratio to NoPE needs it."""
    return encodings if "nope" in encodings else ("nope", *encodings)
