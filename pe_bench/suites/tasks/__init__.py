"""Tasks suite: passkey retrieval, copy, multi-query associative recall and flip-flop at L, 2L, 4L, 8L.

Each encoding, and with ``--randomize-positions`` its randomized-positions variant, is trained
on each task (pe_bench/tasks/) at lengths up to L and answers greedily through the KV cache
(measure.py says how). spec.py declares the settings, presets, options, the table and the
checks made before any work; report.py renders the rows and the summary columns; the figures
are in pe_bench/figures/tasks.py.
"""

from __future__ import annotations

from pe_bench.figures.tasks import FIGURES
from pe_bench.suite import Suite
from pe_bench.suites.tasks import measure, report, spec
from pe_bench.suites.tasks.measure import evaluate_one, run_tasks
from pe_bench.suites.tasks.spec import PRESETS, TASKS_TABLE, Recipe, TasksSettings

SUITE = Suite(
    name="tasks",
    description="passkey, copy, associative recall, flip-flop: train at L, greedy accuracy at L..8L, randomized positions",
    tables=(TASKS_TABLE,),
    options=spec.OPTIONS,
    presets=PRESETS,
    validate=spec.validate,
    run=measure.run,
    render=report.render,
    selects=lambda s, runtime: {"tasks": {"seed": s.seeds, "preset": s.model, "device": runtime.device_name,
                                          "dtype": runtime.dtype_name, "threads": runtime.threads}},
    summary=report.SUMMARY,
    figures=FIGURES,
    memory=spec.memory,
    check=spec.check,
)

__all__ = ["PRESETS", "SUITE", "TASKS_TABLE", "Recipe", "TasksSettings", "evaluate_one", "run_tasks"]
