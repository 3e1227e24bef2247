"""Timing and memory measurement with the discipline benchmarks need.

Warm-up calls first, then timed repeats; the device is synchronized before the clock is
read; results are medians and inter-quartile ranges, never means of noisy samples.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch

from pe_bench.runtime import Runtime

T = TypeVar("T")


def timed_call(fn: Callable[[], T], runtime: Runtime) -> tuple[T, float]:
    """``fn()``'s result and the seconds it took, device work included."""
    runtime.sync()
    start = time.perf_counter()
    result = fn()
    runtime.sync()
    return result, time.perf_counter() - start


def time_once(fn: Callable[[], object], runtime: Runtime) -> float:
    """Seconds one call of ``fn`` takes, device work included."""
    return timed_call(fn, runtime)[1]


def interleaved(names: list[T], rounds: int) -> Iterator[T]:
    """Every name once per round, the first one rotating, so machine drift hits them alike."""
    for round_ in range(rounds):
        shift = round_ % max(1, len(names))
        yield from names[shift:] + names[:shift]


def median_iqr(samples: list[float]) -> tuple[float, float]:
    """Median and inter-quartile range (Q3 - Q1) of the samples."""
    if len(samples) == 1:
        return samples[0], 0.0
    q1, q2, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q2, q3 - q1


def time_median(fn: Callable[[], object], runtime: Runtime, warmup: int = 2, repeats: int = 5) -> float:
    """Median seconds per call after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    return median_iqr([time_once(fn, runtime) for _ in range(repeats)])[0]


def paired_difference(a: Callable[[], object], b: Callable[[], object], runtime: Runtime, warmup: int = 2,
                      repeats: int = 5) -> float:
    """Median of (time of a - time of b) over pairs timed back to back, alternating which goes first.

    Pairing makes the difference robust to drift that a difference of two separate medians
    would absorb as signal.
    """
    for _ in range(warmup):
        a()
        b()
    differences = []
    for i in range(repeats):
        if i % 2:
            tb, ta = time_once(b, runtime), time_once(a, runtime)
        else:
            ta, tb = time_once(a, runtime), time_once(b, runtime)
        differences.append(ta - tb)
    return statistics.median(differences)


#: what peak_memory measures, recorded next to the figure
MEMORY_METHOD = {
    "cuda": "cuda max_memory_allocated above the step's start",
    "cpu": "torch profiler allocation timeline: peak above the step's start",
}


def peak_memory(fn: Callable[[], object], runtime: Runtime) -> tuple[float, str]:
    """Peak bytes allocated during one call of ``fn`` on top of what was allocated before it.

    Weights, optimizer state and inputs that exist before the call are not counted; what
    the step itself allocates (activations, gradients, a materialized bias) is.
    """
    if runtime.device.type == "cuda":
        runtime.sync()
        before = torch.cuda.memory_allocated(runtime.device)
        torch.cuda.reset_peak_memory_stats(runtime.device)
        fn()
        runtime.sync()
        return torch.cuda.max_memory_allocated(runtime.device) - before, MEMORY_METHOD["cuda"]
    if runtime.device.type != "cpu":
        fn()
        return float("nan"), f"not measured on {runtime.device.type}"
    from torch.profiler import ProfilerActivity, profile

    # kineto logs two lines per profile unless told otherwise; this quiets only the profiler
    # started here, and a value the user set wins
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]")
    current = peak = 0
    for _, nbytes in events:
        current += nbytes
        peak = max(peak, current)
    return float(peak), MEMORY_METHOD["cpu"]
