"""Attention suite: where trained models look past their training length L.

The extrapolation suite's language models at L .. 16L on fresh text, or (``--models TASK``)
the tasks suite's models for one task at L .. 8L on fresh examples (sources.py). Per encoding,
layer, head and evaluation length: the entropy of the attention
weights against log(visible keys), the weight on the first tokens (sinks), the weight by
distance, the largest weight and the logits at unseen distances, and one head's maps
(measure.py says how; weights.py holds the math). spec.py declares the settings (with their
options), presets, tables and checks; report.py renders the rows and the summary columns;
figures.py draws them.
"""

from __future__ import annotations

from typing import Any

from pe_bench.model import ModelConfig
from pe_bench.runtime import Runtime
from pe_bench.suite import Suite
from pe_bench.suites.attention import figures, measure, report, spec
from pe_bench.suites.attention.spec import ATTENTION, ATTENTION_MAPS, PRESETS, AttentionSettings


class AttentionSuite(Suite):
    name = "attention"
    description = "where trained models look at L..16L: entropy, sinks, weight by distance, largest weight, maps"
    presets = PRESETS
    tables = (ATTENTION, ATTENTION_MAPS)
    summary = report.SUMMARY
    figures = figures.FIGURES
    run = staticmethod(measure.measure)
    render = staticmethod(report.render)
    validate = staticmethod(spec.validate)
    check = staticmethod(spec.check)
    record = staticmethod(spec.record)
    memory = staticmethod(spec.memory)

    def model_configs(self, settings: AttentionSettings) -> tuple[ModelConfig, ...]:
        return (settings.model_config(),)

    def run_values(self, settings: AttentionSettings, runtime: Runtime) -> dict[str, Any]:
        source = settings.source()
        return {**super().run_values(settings, runtime), "preset": settings.model, "task": source.task,
                "train_len": source.train_len, "steps": source.steps, "seed": settings.seeds,
                "corpus_checksum": source.checksum}


SUITE = AttentionSuite()

__all__ = ["ATTENTION", "ATTENTION_MAPS", "PRESETS", "SUITE", "AttentionSettings", "AttentionSuite"]
