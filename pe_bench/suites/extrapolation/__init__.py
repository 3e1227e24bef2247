"""Length-extrapolation suite: train at length L, evaluate at L, 2L, 4L, 8L, 16L.

Perplexity with non-overlapping and sliding windows, RoPE scaling applied at evaluation,
dynamic scaling's cache pitfall, and streaming through window and sink caches
(measure.py says how). spec.py declares the settings, presets, options, tables and the
checks made before any work; report.py renders the rows and the summary columns; the
figures are in pe_bench/figures/extrapolation.py.
"""

from __future__ import annotations

from pe_bench.data import load_corpus
from pe_bench.figures.extrapolation import FIGURES
from pe_bench.suite import Suite
from pe_bench.suites.extrapolation import measure, report, spec
from pe_bench.suites.extrapolation.measure import run_extrapolation
from pe_bench.suites.extrapolation.spec import EXTRAPOLATION, PRESETS, TRAINING, ExtrapolationSettings

SUITE = Suite(
    name="extrapolation",
    description="train at L, perplexity at L..16L, RoPE scaling, streaming with window and sink caches",
    tables=(EXTRAPOLATION, TRAINING),
    options=spec.OPTIONS,
    presets=PRESETS,
    validate=spec.validate,
    run=measure.run,
    render=report.render,
    selects=lambda s, runtime: {
        table: {"train_len": s.train_len, "steps": s.steps, "seed": s.seeds, "preset": s.model,
                "corpus_checksum": load_corpus(s.corpus).checksum, "device": runtime.device_name,
                "dtype": runtime.dtype_name, "threads": runtime.threads}
        for table in ("extrapolation", "training")
    },
    summary=report.SUMMARY,
    figures=FIGURES,
    memory=spec.memory,
    check=spec.check,
    record=spec.record,
)

__all__ = ["EXTRAPOLATION", "PRESETS", "SUITE", "TRAINING", "ExtrapolationSettings", "run_extrapolation"]
