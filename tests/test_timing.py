"""Timing helpers: the order of interleaved rounds; the CPU peak-memory probe keeps torch's
profiler line off stderr. No timing is asserted anywhere."""

import os
import subprocess
import sys
from pathlib import Path

from pe_bench.timing import interleaved


def test_interleaved_rounds_rotate_who_goes_first():
    assert list(interleaved(["a", "b", "c"], 3)) == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]


PEAK_MEMORY_FROM_THE_LIBRARY = """
import os, torch
from pe_bench.runtime import make_runtime
from pe_bench.timing import peak_memory
held = {"x": torch.randn(256, 256)}  # made before the profiler starts, freed while it runs

def step():
    held["x"] = torch.randn(256, 256)
    os.write(2, b"the step's own line\\n")

peak_memory(step, make_runtime("cpu"))
"""


def test_peak_memory_from_the_python_api_leaks_no_cpu_allocator_warning_and_keeps_other_stderr():
    # torch imported first, TORCH_CPP_LOG_LEVEL unset: what a library caller gets (the CLI sets it itself)
    env = {k: v for k, v in os.environ.items() if k != "TORCH_CPP_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", PEAK_MEMORY_FROM_THE_LIBRARY], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "CPUAllocator" not in done.stderr and "Memory block of unknown size" not in done.stderr
    assert "the step's own line" in done.stderr
