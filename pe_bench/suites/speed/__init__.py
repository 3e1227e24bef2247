"""Speed suite: what each encoding costs in inference and training, next to NoPE.

spec.py declares the settings, presets, options and table; measure.py measures; report.py
renders the rows and the summary columns; the figures are in pe_bench/figures/speed.py.
"""

from __future__ import annotations

from pe_bench.figures.speed import FIGURES
from pe_bench.suite import Suite
from pe_bench.suites.speed import measure, report, spec
from pe_bench.suites.speed.measure import run_speed
from pe_bench.suites.speed.spec import MODES, PRESETS, SPEED, SpeedSettings

SUITE = Suite(
    name="speed",
    description="training and inference time, positional part, memory, x NoPE",
    tables=(SPEED,),
    options=spec.OPTIONS,
    presets=PRESETS,
    validate=spec.validate,
    run=measure.run,
    render=report.render,
    selects=lambda s, runtime: {"speed": {"preset": s.model, "batch_size": s.batch_size, "device": runtime.device_name,
                                          "dtype": runtime.dtype_name, "threads": runtime.threads}},
    summary=report.SUMMARY,
    figures=FIGURES,
    memory=spec.memory,
)

__all__ = ["MODES", "PRESETS", "SPEED", "SUITE", "SpeedSettings", "run_speed"]
