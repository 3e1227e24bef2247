"""Running suites for a set of encodings: validate everything first, then measure and save.

This is the library behind ``pe-bench run`` and ``pe-bench compare``; the CLI only parses
strings into the arguments below and draws the progress bars and tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pe_bench.encodings import encoding_class
from pe_bench.errors import InputError
from pe_bench.options import check_out_dir
from pe_bench.progress import Progress
from pe_bench.results import read_table, upsert
from pe_bench.runtime import Runtime
from pe_bench.suites import SUITES, Suite


@dataclass
class Plan:
    """A validated run: which suites, with which settings, for which encodings, into which folder."""

    encodings: tuple[str, ...]
    suites: dict[str, Any]  # suite name -> its settings
    runtime: Runtime
    out: Path
    preset: str
    new_rows: dict[str, pd.DataFrame] = field(default_factory=dict)  # filled by execute()


def plan(encodings: tuple[str, ...], suites: tuple[str, ...], preset: str, runtime: Runtime, out: Path,
         seed: int | None = None, overrides: dict[str, Any] | None = None) -> Plan:
    """Check every input and build every suite's settings; nothing runs, nothing is written.

    ``overrides`` maps suite option names (``seq_lens``, ``batch_size``, ...) to values; None
    means "the preset's value". An option that no chosen suite reads is an InputError.
    """
    for name in encodings:
        encoding_class(name)
    for name in suites:
        if name not in SUITES:
            raise InputError(f"unknown suite '{name}'; valid: {', '.join(SUITES)}, or all")
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    chosen = [SUITES[name] for name in suites]
    for option in overrides:
        if not any(option in suite.options for suite in chosen):
            owners = [s.name for s in SUITES.values() if option in s.options]
            flag = "--" + option.replace("_", "-")
            raise InputError(f"{flag} applies to the {' and '.join(owners)} suite, which this run does not include")
    settings = {
        suite.name: suite.settings(preset, seed=seed,
                                   **{k: v for k, v in overrides.items() if k in suite.options})
        for suite in chosen
    }
    check_out_dir(out)
    for suite in chosen:  # an existing table we would merge into must be valid before we start
        for schema in suite.tables:
            if (out / schema.filename).exists():
                read_table(out / schema.filename, schema)
        suite.check(encodings, settings[suite.name], out)
    return Plan(encodings, settings, runtime, out, preset)


def execute(run_plan: Plan, progress: Progress | None = None) -> dict[str, pd.DataFrame]:
    """Run the plan's suites; every batch of rows is merged into its table as soon as it exists.

    Returns this run's rows, by table name. If interrupted, the batches already saved stay.
    """
    progress = progress or Progress()
    for name, settings in run_plan.suites.items():
        suite: Suite = SUITES[name]
        with progress.stage(name):
            for schema, rows in suite.run(run_plan.encodings, settings, run_plan.runtime, progress, run_plan.out):
                if not rows:
                    continue
                upsert(run_plan.out, schema, rows)
                batch = pd.DataFrame(rows)
                previous = run_plan.new_rows.get(schema.name)
                run_plan.new_rows[schema.name] = batch if previous is None else pd.concat([previous, batch],
                                                                                          ignore_index=True)
    return run_plan.new_rows
