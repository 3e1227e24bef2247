"""Tasks suite: passkey retrieval, copy, multi-query associative recall and flip-flop at L, 2L, 4L, 8L.

Each encoding, and with ``--randomize-positions`` its randomized-positions variant, is trained
on each task (generators/: one file per task, its generator and its recipes) at lengths up to L and answers greedily through the KV cache
(measure.py says how). spec.py declares the settings (with their options), presets, the table
and the checks made before any work; report.py renders the rows and the summary columns;
figures.py draws them.
"""

from __future__ import annotations

from typing import Any

from pe_bench.model import ModelConfig
from pe_bench.runtime import Runtime
from pe_bench.suite import Suite
from pe_bench.suites.tasks import figures, measure, report, spec
from pe_bench.suites.tasks.measure import evaluate_one
from pe_bench.suites.tasks.spec import PRESETS, TASKS_TABLE, Recipe, TasksSettings


class Tasks(Suite):
    name = "tasks"
    description = "passkey, copy, associative recall, flip-flop: train at L, greedy accuracy at L..8L, randomized positions"
    presets = PRESETS
    tables = (TASKS_TABLE,)
    summary = report.SUMMARY
    figures = figures.FIGURES
    run = staticmethod(measure.measure)
    render = staticmethod(report.render)
    scalars = staticmethod(report.scalars)
    validate = staticmethod(spec.validate)
    check = staticmethod(spec.check)
    memory = staticmethod(spec.memory)

    def model_configs(self, settings: TasksSettings) -> tuple[ModelConfig, ...]:
        return tuple(settings.model_config(task, randomized) for task in settings.tasks for randomized in settings.variants)

    def run_values(self, settings: TasksSettings, runtime: Runtime) -> dict[str, Any]:
        return {**super().run_values(settings, runtime), "preset": settings.recipes, "seed": settings.seeds}


SUITE = Tasks()

__all__ = ["PRESETS", "SUITE", "TASKS_TABLE", "Recipe", "Tasks", "TasksSettings", "evaluate_one"]
