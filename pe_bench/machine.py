"""Which machine a run started on, and how busy it was: other processes' load spoils every timing.

``machine_load`` reads the 1-minute load average (``os.getloadavg``) against the machine's
cores; the run's manifest entry records it (``load_at_start``), and ``busy_notice`` is the
one-line warning to print when the machine was busy. Measured before pe-bench's own work,
the load is other processes' (a second benchmark, a build, another engineer's tests).
``cpu_model`` names the processor (the manifest's ``cpu``): timings from two machines are not
comparable, and a kernel can behave differently on another CPU (docs/results-speed.md).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

#: load per core at or above which the machine counts as busy: other processes kept at least half
#: its cores running, so the timings share the CPU with them
BUSY_PER_CORE = 0.5


def machine_load() -> dict[str, Any] | None:
    """``{"load_1min", "cores", "per_core"}`` now, or None where the system has no load average."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows, or a sandbox without /proc/loadavg
        return None
    cores = os.cpu_count() or 1
    return {"load_1min": round(load, 2), "cores": cores, "per_core": round(load / cores, 2)}


def is_busy(load: dict[str, Any] | None) -> bool:
    """True when ``load`` (from ``machine_load``) has at least BUSY_PER_CORE load per core."""
    return load is not None and load["load_1min"] / max(1, load["cores"]) >= BUSY_PER_CORE


def busy_notice(load: dict[str, Any] | None) -> str | None:
    """The one-line warning for a run that starts on a busy machine, or None when it is quiet."""
    if not is_busy(load):
        return None
    assert load is not None
    return (f"warning: the machine is busy as this run starts (load {load['load_1min']:.2f} on {load['cores']} "
            f"cores, {load['per_core']:.2f} per core): other processes share the CPU, so timings will be slower "
            f"and noisier; manifest.json records the load (load_at_start)")


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The processor's name: Linux's ``model name`` in ``cpuinfo`` (x86), else what ``platform`` knows
    (on ARM Linux no more than the architecture), else None. Never raises: a run must not stop for this."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            name = line.split(":", 1)[1].strip() if line.startswith("model name") and ":" in line else ""
            if name:
                return name
    except OSError:  # not Linux, or no /proc
        pass
    return platform.processor() or platform.machine() or None
