"""The benchmark suites: the registry.

Each suite is a package that builds one ``pe_bench.suite.Suite`` (its options, presets,
tables, summary columns, figures, and the code that measures and renders). Everything
else — the runner, the CLI, the summary, the figures, the tests — loops over ``SUITES``,
so a new suite is one package plus one line here.
"""

from __future__ import annotations

from pe_bench.results.schema import Schema
from pe_bench.suite import Suite
from pe_bench.suites import attention, extrapolation, kvcache, speed, tasks

SUITES: dict[str, Suite] = {s.name: s for s in (speed.SUITE, kvcache.SUITE, extrapolation.SUITE, attention.SUITE,
                                                tasks.SUITE)}


def all_schemas() -> dict[str, Schema]:
    """Every table any suite writes, by name."""
    return {schema.name: schema for suite in SUITES.values() for schema in suite.tables}
