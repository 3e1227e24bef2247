"""Timing and memory measurement with the discipline benchmarks need.

Warm-up calls first, then timed repeats; the device is synchronized before the clock is
read; results are medians and inter-quartile ranges, never means of noisy samples.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


#: what torch's C++ allocator logs when the profiler sees a block freed that was allocated before it
#: started: expected here (blocks made before the step and freed in it), and written straight to the
#: process's stderr, past Python's warnings filters
PROFILER_NOISE = re.compile(rb"\[W[^\]\n]*CPUAllocator\.cpp:\d+\] Memory block of unknown size was allocated "
                            rb"before the profiling started[^\n]*\n?")


@contextmanager
def without_profiler_noise() -> Iterator[None]:
    """Run the block with file descriptor 2 captured; write back all of it but PROFILER_NOISE.

    The CLI quiets torch's C++ log with TORCH_CPP_LOG_LEVEL, which only works if set before
    torch is imported; a library caller has imported torch already, so the one line is taken
    out here instead, and anything else written to stderr meanwhile still reaches it.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no fd 2 (a closed or replaced stderr): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError, AttributeError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            rest = memoryview(PROFILER_NOISE.sub(b"", capture.read()))
            try:
                while rest:
                    rest = rest[os.write(2, rest):]
            except OSError:  # stderr gone (a closed pipe): what it would have shown is lost, as it would be
                pass


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
    with without_profiler_noise(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]")
    current = peak = 0
    for _, nbytes in events:
        current += nbytes
        peak = max(peak, current)
    return float(peak), MEMORY_METHOD["cpu"]
