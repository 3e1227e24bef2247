"""Length-extrapolation suite: train at length L, evaluate at L, 2L, 4L, 8L, 16L.

Perplexity with non-overlapping and sliding windows, RoPE scaling applied at evaluation,
dynamic scaling's cache pitfall, and streaming through window and sink caches
(measure.py says how). spec.py declares the settings (with their options), presets, tables
and the checks made before any work; report.py renders the rows and the summary columns;
figures.py draws them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pe_bench.model import ModelConfig
from pe_bench.runtime import Runtime
from pe_bench.suite import Job, Suite
from pe_bench.suites.extrapolation import figures, measure, report, spec
from pe_bench.suites.extrapolation.spec import EXTRAPOLATION, PRESETS, TRAINING, ExtrapolationSettings


class Extrapolation(Suite):
    name = "extrapolation"
    description = "train at L, perplexity at L..16L, RoPE scaling, streaming with window and sink caches"
    presets = PRESETS
    tables = (EXTRAPOLATION, TRAINING)
    summary = report.SUMMARY
    figures = figures.FIGURES
    run = staticmethod(measure.measure)
    render = staticmethod(report.render)
    scalars = staticmethod(report.scalars)
    validate = staticmethod(spec.validate)
    check = staticmethod(spec.check)
    record = staticmethod(spec.record)
    memory = staticmethod(spec.memory)

    def model_configs(self, settings: ExtrapolationSettings) -> tuple[ModelConfig, ...]:
        return (settings.model_config(),)

    def sweep_phases(self, encodings: tuple[str, ...], settings: ExtrapolationSettings) -> list[list[Job]]:
        """Every model trained and evaluated first; then each of RoPE's scalings, at each seed, a job of its
        own on the checkpoint the first phase saved (never retrained: ``retrain`` off; a RoPE that diverged
        is skipped), so the rank that trained RoPE no longer evaluates them all while the others wait."""
        if "rope" not in encodings or not settings.variants:
            return super().sweep_phases(encodings, settings)
        scalings = [(("rope",), replace(settings, seeds=(seed,), variants=(variant,), retrain=False))
                    for seed in settings.seeds for variant in settings.variants]
        return [*super().sweep_phases(encodings, replace(settings, variants=())), scalings]

    def run_values(self, settings: ExtrapolationSettings, runtime: Runtime) -> dict[str, Any]:
        return {**super().run_values(settings, runtime), "preset": settings.model, "train_len": settings.train_len,
                "steps": settings.steps, "seed": settings.seeds, "corpus_checksum": settings.corpus_checksum}


SUITE = Extrapolation()

__all__ = ["EXTRAPOLATION", "PRESETS", "SUITE", "TRAINING", "Extrapolation", "ExtrapolationSettings"]
