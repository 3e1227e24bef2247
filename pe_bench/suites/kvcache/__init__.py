"""KV-cache suite: exactness, decode cost, cache memory and cache policies, per encoding.

Per context: cached decoding against a full forward and what a token costs with and without
the cache; window and sink policies under original and slot positions; shift invariance
and precision at large positions (measure.py says how).

spec.py declares the settings, presets, options and tables; measure.py measures; report.py
renders the rows and the summary columns; the figures are in pe_bench/figures/kvcache.py.
"""

from __future__ import annotations

from pe_bench.figures.kvcache import FIGURES
from pe_bench.suite import Suite
from pe_bench.suites.kvcache import measure, report, spec
from pe_bench.suites.kvcache.measure import run_kvcache
from pe_bench.suites.kvcache.spec import KVCACHE, PRECISION, PRESETS, SHIFT, KVCacheSettings

SUITE = Suite(
    name="kvcache",
    description="cached decoding: exactness, cost per token, memory, window/sink policies, shifts, precision",
    tables=(KVCACHE, SHIFT, PRECISION),
    options=spec.OPTIONS,
    presets=PRESETS,
    validate=spec.validate,
    run=measure.run,
    render=report.render,
    selects=lambda s, runtime: {
        "kvcache": {"preset": s.model, "device": runtime.device_name, "dtype": runtime.dtype_name,
                    "threads": runtime.threads},
        "shift": {"preset": s.model, "seq_len": s.shift_len, "device": runtime.device_name,
                  "dtype": runtime.dtype_name, "threads": runtime.threads},
        "precision": {"device": "cpu"},
    },
    summary=report.SUMMARY,
    figures=FIGURES,
    memory=spec.memory,
)

__all__ = ["KVCACHE", "PRECISION", "PRESETS", "SHIFT", "SUITE", "KVCacheSettings", "run_kvcache"]
