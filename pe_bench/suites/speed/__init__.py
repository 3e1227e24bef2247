"""Speed suite: what each encoding costs in inference and training, next to NoPE.

spec.py declares the settings (with their options), presets and table; measure.py measures;
report.py renders the rows and the summary columns; figures.py draws them.
"""

from __future__ import annotations

from typing import Any

from pe_bench.model import ModelConfig, preset
from pe_bench.runtime import Runtime
from pe_bench.suite import Suite
from pe_bench.suites.speed import figures, measure, report, spec
from pe_bench.suites.speed.spec import MODES, PRESETS, SPEED, SpeedSettings


class Speed(Suite):
    name = "speed"
    description = "training and inference time, positional part, memory, x NoPE"
    presets = PRESETS
    tables = (SPEED,)
    summary = report.SUMMARY
    figures = figures.FIGURES
    run = staticmethod(measure.measure)
    render = staticmethod(report.render)
    validate = staticmethod(spec.validate)
    memory = staticmethod(spec.memory)

    def model_configs(self, settings: SpeedSettings) -> tuple[ModelConfig, ...]:
        return (preset(settings.model),)

    def run_values(self, settings: SpeedSettings, runtime: Runtime) -> dict[str, Any]:
        return {**super().run_values(settings, runtime), "preset": settings.model, "batch_size": settings.batch_size}


SUITE = Speed()

__all__ = ["MODES", "PRESETS", "SPEED", "SUITE", "Speed", "SpeedSettings"]
