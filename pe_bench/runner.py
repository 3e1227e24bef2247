"""Running suites for a set of encodings: validate everything first, then measure and save.

This is the library behind ``pe-bench run`` and ``pe-bench compare``; the CLI only parses
strings into the arguments below and draws the progress bars and tables.

1. ``plan`` checks every input and builds every suite's settings; nothing runs, nothing is
   written, so bad input never leaves a trace.
2. ``execute`` runs the suites; each batch of rows is merged into its table (atomically) as
   soon as it exists, so an interrupted run keeps what it finished. ``manifest.json``
   records the run as it starts and as it ends.
3. ``finish`` renders each suite's table and the cross-suite summary from the saved
   tables, writes summary.md / summary.html / summary.csv and draws the figures
   (``write_summary``, which ``pe-bench plot`` calls again after drawing: replot.py).

Every step loops over the suite registry; no suite is named here.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import RenderableType

from pe_bench.check import interface_problems
from pe_bench.encodings import BUILT_IN, ORIGINS, resolve
from pe_bench.errors import InputError
from pe_bench.figures import PlotReport, draw_figures
from pe_bench.figures.encodings import FIGURES as ENCODING_FIGURES
from pe_bench.figures.common import FigureSpec
from pe_bench.jobs import suite_runtime
from pe_bench.machine import busy_notice, machine_load
from pe_bench.options import check_seed
from pe_bench.progress import Progress
from pe_bench.ranks import batches, from_main, work_alongside
from pe_bench.results import manifest, pending
from pe_bench.results.files import check_subfolder, remove_stale_temporaries
from pe_bench.results.folder import check_writable_folder, claim, locked
from pe_bench.results.summary import SummaryPart, run_notes, write_report
from pe_bench.results.tables import key_text, read_table, upsert
from pe_bench.runtime import Runtime, check_memory
from pe_bench.seeds import check_resume, seed_overrides
from pe_bench.suite import Existing, RunContext, with_nope
from pe_bench.tensorboard import Board, check as check_tensorboard
from pe_bench.terminal import fit
from pe_bench.suites import SUITES, all_schemas


@dataclass
class Plan:
    """A validated run: which suites, with which settings, for which encodings, into which folder."""

    encodings: tuple[str, ...]
    suites: dict[str, Any]  # suite name -> its settings
    runtime: Runtime
    out: Path
    preset: str
    seed: int | None = None
    resume: bool = False
    new_rows: dict[str, pd.DataFrame] = field(default_factory=dict)  # filled by execute()
    notices: list[str] = field(default_factory=list)  # what the user should read (a manifest moved aside)
    tensorboard: Path | None = None  # --tensorboard: the training suites' scalars go there (tensorboard.py)


@dataclass
class Finished:
    """What ``finish`` produced: the summary, each suite's table, the figures."""

    summary: pd.DataFrame
    suite_tables: list[RenderableType]
    figures: list[Path]
    skipped_figures: list[tuple[str, str]]
    differences: pd.DataFrame = field(default_factory=pd.DataFrame)  # the summary's claims tested across seeds
    parts: list[SummaryPart] = field(default_factory=list)  # the summary's columns: those of the suites that ran
    notes: list[str] = field(default_factory=list)  # what the end of the run says (rows too noisy to trust, ...)


def plan(encodings: tuple[str, ...], suites: tuple[str, ...], preset: str, runtime: Runtime, out: Path,
         seed: int | None = None, overrides: dict[str, Any] | None = None, resume: bool = False,
         tensorboard: Path | None = None) -> Plan:
    """Check every input and build every suite's settings; nothing runs, nothing is written.

    ``overrides`` maps suite option names (``seq_lens``, ``batch_size``, ...) to values; None
    means "the preset's value". An option that no chosen suite reads is an InputError, and so is
    ``tensorboard`` (a folder) without the tensorboard package or without a suite that trains.
    """
    if seed is not None:
        check_seed(seed)
    encodings = tuple(resolve(name) for name in encodings)  # a plugin spec becomes its registered name
    for name in encodings:  # a user's encoding must build and answer its hook in shape before any work
        if ORIGINS[name] is not BUILT_IN and (problem := interface_problems(name)) is not None:
            raise InputError(f"plugin {ORIGINS[name].source} does not keep the encoding contract: {problem}")
    for name in suites:
        if name not in SUITES:
            raise InputError(f"unknown suite '{name}'; valid: {', '.join(SUITES)}, or all")
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    chosen = [SUITES[name] for name in suites]
    for option in overrides:
        if not any(option in suite.option_names() for suite in chosen):
            owners = [s.name for s in SUITES.values() if option in s.option_names()]
            if not owners:
                raise InputError(f"unknown option '{option}'")
            flag = "--" + option.replace("_", "-")
            names = owners[0] + " suite" if len(owners) == 1 else f"{', '.join(owners[:-1])} and {owners[-1]} suites"
            raise InputError(f"{flag} applies to the {names}, which this run does not include")
    settings = {  # --seed and --seeds: seeds.py
        suite.name: suite.settings(preset, **seed_overrides(suite, seed, overrides.get("seeds")),
                                   **{k: v for k, v in overrides.items() if k in suite.option_names() and k != "seeds"})
        for suite in chosen
    }
    if tensorboard is not None:  # the package, a suite that trains, a folder pe-bench may write into
        check_tensorboard(chosen, SUITES.values())
        check_writable_folder(tensorboard, "--tensorboard")
    check_writable_folder(out)
    load_tables(out)  # every table a run reads or rewrites (the summary reads them all) must be valid
    check_subfolder(out / "plots", "its figures")
    pending.check(out, all_schemas())  # the rows a cut-off sweep's other ranks kept: written first (execute)
    for suite in chosen:
        suite.check_encodings(encodings, settings[suite.name])
        suite.check(encodings, settings[suite.name], out, runtime)
    check_memory([suite.memory(settings[suite.name]) for suite in chosen], runtime)
    for suite in chosen if resume else ():
        check_resume(out, suite, settings[suite.name])  # the same seeds as the run it resumes
    # last: it moves a corrupt manifest aside (rank 0 alone: the others never write)
    notice = manifest.check(out) if out.is_dir() and runtime.world.is_main else None
    busy = busy_notice(machine_load()) if runtime.world.is_main else None  # before any work of ours
    return Plan(encodings, settings, runtime, out, preset, seed, resume, notices=[n for n in (busy, notice) if n],
                tensorboard=tensorboard)


def load_tables(out: Path) -> dict[str, pd.DataFrame]:
    """Every result table of any suite present in ``out``, validated."""
    return {name: read_table(out / schema.filename, schema) for name, schema in all_schemas().items()
            if (out / schema.filename).exists()}


def _notice(run_plan: Plan, notice: str | None) -> None:
    run_plan.notices.extend([notice] if notice else [])


def _quoted(command: list[str] | None) -> str:
    """The command line as a shell would re-run it (paths with spaces quoted)."""
    return shlex.join(command if command is not None else sys.argv)


def execute(run_plan: Plan, progress: Progress | None = None, command: list[str] | None = None,
            tell: Callable[[str], None] = lambda message: None) -> dict[str, pd.DataFrame]:
    """Run the plan's suites; every batch of rows is merged into its table as soon as it exists.

    Returns this run's rows, by table name; if interrupted, the batches saved stay and the manifest
    says so. The folder is claimed and locked while it writes (results/folder.py). ``tell`` shows the user,
    as it happens, what a run waits for (another run's lock) and what it found (rows a cut-off sweep kept).
    """
    if not run_plan.runtime.world.is_main:  # under torchrun: its share of the work, writing nothing (ranks.py)
        return work_alongside(run_plan.suites, run_plan.encodings, RunContext(run_plan.runtime, run_plan.out))
    claim(run_plan.out)
    with locked(run_plan.out, _quoted(command), tell):
        remove_stale_temporaries(run_plan.out)  # left by a run that was killed (its pid is gone)
        if kept := pending.merge(run_plan.out, all_schemas()):  # rows another rank of a sweep cut off had finished
            tell(f"rows that a cut-off sweep's other ranks had finished are now in the tables: {sum(kept.values())} "
                 f"(from {run_plan.out / pending.FOLDER}/)")
        rows = _execute(run_plan, progress, command, merged=kept)
        pending.remove_if_empty(run_plan.out)  # every phase has ended: no other rank writes there now
        return rows


def _execute(run_plan: Plan, progress: Progress | None, command: list[str] | None,
             merged: dict[str, int]) -> dict[str, pd.DataFrame]:
    progress = progress or Progress()
    out = run_plan.out
    records = {k: v for name, settings in run_plan.suites.items() for k, v in SUITES[name].record(settings).items()}
    # a user's encoding: the file or module it came from and the sha256 of its source
    records["encoding_sources"] = {name: ORIGINS[name].record() for name in run_plan.encodings
                                   if ORIGINS[name] is not BUILT_IN}
    records["selects"] = selections(run_plan)  # which rows its summary shows: plot rewrites it from them
    records["rows_merged"] = merged  # by table: rows a cut-off sweep's other ranks measured, written by this run
    entry = manifest.new_entry(encodings=run_plan.encodings, suites=run_plan.suites, preset=run_plan.preset,
                               runtime_record=run_plan.runtime.record(), seed=run_plan.seed, resume=run_plan.resume,
                               command=command, **run_plan.runtime.world.record(), **records)
    _notice(run_plan, manifest.record(out, entry))
    existing = Existing(from_main(run_plan.runtime.world, lambda: load_tables(out) if run_plan.resume else {}))
    if run_plan.tensorboard is not None:
        claim(run_plan.tensorboard)  # pe-bench's from now on, as --out is
    board = Board(run_plan.tensorboard)  # writes nothing without --tensorboard
    context = RunContext(run_plan.runtime, out, progress, existing, board=board)
    try:
        for name, settings in run_plan.suites.items():
            start = time.perf_counter()
            with progress.stage(name):
                for schema, rows in batches(SUITES[name], run_plan.encodings, settings, context):
                    if not rows:
                        continue
                    upsert(out, schema, rows)
                    board.add(SUITES[name].scalars(schema, rows))
                    batch = pd.DataFrame(rows)
                    previous = run_plan.new_rows.get(schema.name)
                    run_plan.new_rows[schema.name] = batch if previous is None else pd.concat(
                        [previous, batch], ignore_index=True)
                    entry["rows_written"][schema.name] = entry["rows_written"].get(schema.name, 0) + len(rows)
            entry["suite_seconds"][name] = round(time.perf_counter() - start, 1)
            progress.finished(lambda name=name: rendered(name, tables_for_run(run_plan)))  # a log: as it ends
        entry["status"] = "completed"
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP
        entry["status"] = "interrupted"
        raise
    except BaseException:  # a full disk, a bug: the rows saved so far stay
        entry["status"] = "failed"
        raise
    finally:
        board.close()
        entry["ended_at"] = manifest.now()
        _notice(run_plan, manifest.record(out, entry))
    return run_plan.new_rows


def selections(run_plan: Plan) -> dict[str, dict[str, dict[str, Any]]]:
    """{suite: {table: {column: value}}}: which saved rows are this run's (``Suite.selects``).
    Recorded in the manifest, so ``pe-bench plot`` can select the same rows again (replot.py)."""
    return {name: SUITES[name].selects(settings, suite_runtime(SUITES[name].trains, run_plan.runtime))
            for name, settings in run_plan.suites.items()}


def tables_for_run(run_plan: Plan) -> dict[str, pd.DataFrame]:
    """The saved tables, restricted to this run's encodings (NoPE included) and settings: a folder
    can hold other runs' rows (another preset, length...); ``Suite.selects`` keeps this run's."""
    return selected_tables(run_plan.out, run_plan.encodings, selections(run_plan))


def selected_tables(out: Path, encodings: Iterable[str], chosen: dict[str, dict[str, dict[str, Any]]]
                    ) -> dict[str, pd.DataFrame]:
    """``out``'s saved tables, restricted to ``encodings`` (NoPE included) and the ``chosen`` rows
    of each suite ({suite: {table: {column: value}}}, as ``selections`` gives them)."""
    names = set(with_nope(tuple(encodings)))
    saved = load_tables(out)
    tables = {}
    for selects in chosen.values():
        for table, values in selects.items():
            df = saved.get(table)
            if df is None:
                continue
            if "encoding" in df.columns:
                df = df[df["encoding"].isin(names)]
            for column, value in values.items():  # a tuple: any of its values (a training suite's seeds)
                many = value if isinstance(value, (tuple, list)) else [value]  # a list: the tuple, read from JSON
                df = df[df[column].map(key_text).isin(map(key_text, many))]
            tables[table] = df
    return tables


def finish(run_plan: Plan, draw_plots: bool = True, command: list[str] | None = None,
           tell: Callable[[str], None] = lambda message: None) -> Finished:
    """Each suite's table and the summary from the saved tables; summary.md/.csv; the figures."""
    claim(run_plan.out)
    with locked(run_plan.out, _quoted(command), tell):
        return _finish(run_plan, draw_plots, command)


def _finish(run_plan: Plan, draw_plots: bool, command: list[str] | None) -> Finished:
    tables = tables_for_run(run_plan)
    report = PlotReport()
    if draw_plots:
        # this run's rows only, as in the summary: the folder may hold other presets' rows too
        report = draw_figures({name: df for name, df in tables.items() if len(df)}, figure_specs(run_plan.suites),
                              run_plan.out / "plots", source="this run")
    done = write_summary(run_plan.out, tables, report.drawn, encodings=run_plan.encodings, suites=run_plan.suites,
                         preset=run_plan.preset, runtime_record=run_plan.runtime.record(), command=_quoted(command))
    done.skipped_figures = report.skipped
    return done


def write_summary(out: Path, tables: dict[str, pd.DataFrame], figures: list[Path], *, encodings: tuple[str, ...],
                  suites: dict[str, Any], preset: str, runtime_record: dict[str, Any], command: str) -> Finished:
    """Each suite's table and the summary of one run from its rows (``tables``), into summary.md, .html
    and .csv; ``suites`` maps each suite that ran to its settings (or, read back from the manifest,
    their JSON). What ``finish`` writes after a run and ``pe-bench plot`` rewrites after drawing."""
    suite_tables = [table for name in suites if (table := rendered(name, tables)) is not None]
    parts = [SUITES[name].summary for name in suites]  # the suites that ran, and nothing else
    runs = manifest.contributing_runs(out, {name: (settings, tuple(s.name for s in SUITES[name].tables))
                                            for name, settings in suites.items()}, runtime_record)
    summary, differences = write_report(out, tables, parts, encodings=encodings, preset=preset,
                                        runtime_record=runtime_record, command=command, suite_tables=suite_tables,
                                        figures=figures, runs=runs)
    return Finished(summary, suite_tables, figures, [], differences, parts, run_notes(tables, parts))


def rendered(name: str, tables: dict[str, pd.DataFrame]) -> RenderableType | None:
    """Suite ``name``'s table of ``tables`` (this run's rows), folding to fit; None if it has no rows."""
    mine = {s.name: tables[s.name] for s in SUITES[name].tables if s.name in tables and len(tables[s.name])}
    return fit(SUITES[name].render(mine)) if mine else None


def figure_specs(suites: Iterable[str] | None = None) -> list[FigureSpec]:
    """The figures of ``suites`` (default: every suite), then the encodings' own."""
    return [spec for name in (suites or SUITES) for spec in SUITES[name].figures] + list(ENCODING_FIGURES)
