"""The checks' registry: ``CHECKS`` (title -> function, in the order they run), the ``@check``
decorator that adds one, what a result is, and the tolerances every check uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

BACKEND_TOL = 1e-5  # backends against eager, float32
CACHE_TOL = 1e-4  # cached decoding against a full forward
POSITIONS_TOL = 1e-6  # explicit arange positions against the default
SHIFT_TOL = 1e-4  # a relative encoding at an offset
MEASURABLE = 1e-3  # a property that does not hold changes logits by more than this
OFFSETS = (1, 10, 100, 1000, 10000)
FAR = 2**20  # an unbounded encoding must stay finite this far out
SEQ_LEN, BATCH, PREFILL = 24, 2, 5
FLEX_STEPS = 4  # uncompiled flex is slow per decoding step (FIRE: ~1 s): it decodes the last 4 tokens
WINDOW, SINKS = 8, 2
GRAD_BACKENDS = ("eager", "sdpa")  # flex runs forward only on CPU
CLAIMS = ("shift_invariant", "exact_cache", "caches_transformed_keys", "causal_only")  # each must be a bool


@dataclass
class CheckResult:
    """One check of one encoding: ``detail`` says what was measured, or what broke and by how much."""

    encoding: str
    check: str
    passed: bool
    detail: str


CheckFn = Callable[[str], "CheckResult | list[CheckResult]"]
#: check title -> function, in the order they run and are reported
CHECKS: dict[str, CheckFn] = {}


def check(title: str) -> Callable[[Callable[[str], tuple[bool, str]]], CheckFn]:
    """Register ``fn(name) -> (passed, detail)`` in ``CHECKS`` under ``title``."""
    def register(fn: Callable[[str], tuple[bool, str]]) -> CheckFn:
        def run(name: str) -> CheckResult:
            passed, detail = fn(name)
            return CheckResult(name, title, bool(passed), detail)

        run.__name__, run.__doc__ = fn.__name__, fn.__doc__
        CHECKS[title] = run
        return run

    return register


def one_line(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut at ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
