"""KV-cache suite: exactness, decode cost, cache memory and cache policies, per encoding.

Per context: cached decoding against a full forward and what a token costs with and without
the cache; window and sink policies under original and slot positions; shift invariance
and precision at large positions (measure.py and positions.py say how).

spec.py declares the settings (with their options), presets and tables; measure.py measures;
report.py renders the rows and the summary columns; figures.py draws them.
"""

from __future__ import annotations

from typing import Any

from pe_bench.model import ModelConfig, preset
from pe_bench.runtime import Runtime
from pe_bench.suite import Suite
from pe_bench.suites.kvcache import figures, measure, report, spec
from pe_bench.suites.kvcache.spec import KVCACHE, PRECISION, PRESETS, SHIFT, KVCacheSettings


class KVCache(Suite):
    name = "kvcache"
    description = "cached decoding: exactness, cost per token, memory, window/sink policies, shifts, precision"
    presets = PRESETS
    tables = (KVCACHE, SHIFT, PRECISION)
    summary = report.SUMMARY
    figures = figures.FIGURES
    run = staticmethod(measure.measure)
    render = staticmethod(report.render)
    validate = staticmethod(spec.validate)
    memory = staticmethod(spec.memory)

    def model_configs(self, settings: KVCacheSettings) -> tuple[ModelConfig, ...]:
        return (preset(settings.model),)

    def run_values(self, settings: KVCacheSettings, runtime: Runtime) -> dict[str, Any]:
        return {**super().run_values(settings, runtime), "preset": settings.model, "seq_len": settings.shift_len}


SUITE = KVCache()

__all__ = ["KVCACHE", "PRECISION", "PRESETS", "SHIFT", "SUITE", "KVCache", "KVCacheSettings"]
