"""Where and how benchmarks run: device, dtype, threads, and a record of all three."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from pe_bench.distributed import SINGLE, World
from pe_bench.errors import InputError, Unsupported

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Runtime:
    """The device, dtype and thread count a run uses; recorded with every result row.

    ``world`` says which rank this process is under torchrun (pe_bench/distributed.py); it is
    not part of a row: the same settings give the same numbers whatever the number of ranks.
    """

    device: torch.device
    dtype: torch.dtype
    threads: int
    world: World = SINGLE

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    @property
    def device_name(self) -> str:
        """'cpu (x86_64)', 'cuda (NVIDIA H100 80GB HBM3)', ..."""
        if self.device.type == "cuda":
            return f"cuda ({torch.cuda.get_device_name(self.device)})"
        return f"{self.device.type} ({platform.machine()})"

    def sync(self) -> None:
        """Wait for queued device work, so a clock read after it is honest."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            torch.mps.synchronize()

    def record(self) -> dict[str, object]:
        """The columns every result row carries about where it was measured."""
        return {"device": self.device_name, "dtype": self.dtype_name, "threads": self.threads,
                "torch_version": torch.__version__}


def resolve_device(name: str) -> torch.device:
    """'auto' picks cuda, then mps, then cpu; asking for one that is absent is an InputError."""
    if name not in DEVICES:
        raise InputError(f"unknown device '{name}'; valid: {', '.join(DEVICES)}")
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        found = ", ".join(d for d, ok in (("cuda", cuda), ("mps", mps), ("cpu", True)) if ok)
        raise InputError(f"--device {name} is not available on this machine; available: {found}")
    return torch.device(name)


def resolve_dtype(name: str) -> torch.dtype:
    """The torch dtype called ``name``; InputError for an unknown name."""
    if name not in DTYPES:
        raise InputError(f"unknown dtype '{name}'; valid: {', '.join(DTYPES)}")
    return DTYPES[name]


def make_runtime(device: str = "auto", dtype: str = "float32", threads: int | None = None) -> Runtime:
    """Validate the names and set torch's CPU thread count; nothing is run.

    More threads than the machine has cores is refused: it changes every timing (150 times
    slower at 999 threads on 2 cores) and, through the order of reductions, the last digits
    of trained results; the thread count is part of every row's key.
    """
    if threads is not None:
        cores = os.cpu_count() or 1
        if not 1 <= threads <= cores:
            raise InputError(f"--threads must be between 1 and the {cores} cores this machine has, got {threads}")
        torch.set_num_threads(threads)
    return Runtime(resolve_device(device), resolve_dtype(dtype), torch.get_num_threads())


def available_memory(runtime: Runtime) -> int | None:
    """Bytes the device can still give a run (CUDA: free memory; CPU: MemAvailable), or None if unknown."""
    if runtime.device.type == "cuda":
        return int(torch.cuda.mem_get_info(runtime.device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_dtype_supported(runtime: Runtime) -> None:
    """Raise Unsupported if the device cannot run a matmul and a layer norm in this dtype."""
    try:
        x = torch.randn(8, 8, device=runtime.device).to(runtime.dtype)
        torch.nn.functional.layer_norm(x @ x, (8,))
        runtime.sync()
    except (RuntimeError, TypeError) as e:
        raise Unsupported(f"{runtime.dtype_name} is not supported on {runtime.device_name}: {e}") from None


def check_memory(needs: list[tuple[int, str]], runtime: Runtime) -> None:
    """Refuse a run whose largest shape would need more memory than the device has free."""
    available = available_memory(runtime)
    need, shape = max(needs, default=(0, ""))
    if available is not None and need > available:
        raise InputError(f"{shape} needs about {need / 2**30:,.1f} GiB, and {runtime.device_name} has "
                         f"{available / 2**30:,.1f} GiB available; use shorter lengths or a smaller batch")
