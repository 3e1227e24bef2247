"""``--jobs N``: train N models at once on this machine, each in its own process.

A small model does not use two cores well from one process: 1000 recall steps at width 64 took
12 s on two threads and 15 s on one, so two one-thread processes side by side have 1.6x the
throughput; on the whole quick start ``--jobs 2`` bought 1.27x (docs/cluster.md). ``--jobs N``
starts the command again as N local ranks of a ``--distribute sweep`` (pe_bench/launch.py, the
same elastic launcher as ``python -m pe_bench.launch --nproc-per-node N``, its rendezvous on
127.0.0.1), each with 1/N of the threads; a suite that trains deals its (encoding, seed) jobs
out to them, and a suite that does not (speed, kvcache: timings) runs on rank 0 alone with
every thread (``suite_runtime``, ``solo_threads``) while the others wait, so a timing never
shares the CPU with a training job of the same run.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace

import torch

from pe_bench.errors import InputError
from pe_bench.runtime import Runtime

#: set for the ranks ``--jobs`` starts: the threads a suite run by rank 0 alone may use
SOLO_THREADS = "PE_BENCH_SOLO_THREADS"
#: set for the ranks ``--jobs`` starts: the command the user typed, as JSON (what manifest.json records)
COMMAND = "PE_BENCH_COMMAND"
LOCALHOST = "127.0.0.1"


def check(jobs: int, threads: int | None, distribute: str | None, device: str, launched: bool,
          cores: int | None = None) -> int:
    """The threads each of ``jobs`` processes gets, if ``--jobs`` can be honoured; else InputError."""
    cores = cores or os.cpu_count() or 1
    if jobs < 1:
        raise InputError(f"--jobs must be an integer >= 1, got {jobs}")
    if launched:
        raise InputError("--jobs starts its own processes; under torchrun, give the ranks with --nproc-per-node "
                         "and --distribute sweep instead")
    if distribute is not None:
        raise InputError(f"--jobs {jobs} runs a sweep of its own; leave --distribute {distribute} out")
    if device not in ("auto", "cpu") or (device == "auto" and torch.cuda.is_available()):
        raise InputError(f"--jobs runs several processes on the CPU; with --device {device}, leave --jobs out "
                         "(or start one rank per GPU with python -m pe_bench.launch --nproc-per-node N)")
    total = threads if threads is not None else cores
    if jobs > total:
        raise InputError(f"--jobs {jobs} needs a thread per process: at most {total} "
                         f"({'--threads' if threads is not None else 'the cores this machine has'})")
    return total // jobs


def relaunch(argv: list[str], jobs: int, threads_each: int, total_threads: int) -> int:
    """Run the pe-bench command ``argv`` (as typed, ``--jobs`` included) as ``jobs`` local ranks of a sweep;
    the exit code a scheduler should see (pe_bench/launch.py)."""
    from pe_bench import launch

    os.environ[SOLO_THREADS] = str(total_threads)
    os.environ[COMMAND] = json.dumps(["pe-bench", *argv])
    os.environ.setdefault("OMP_NUM_THREADS", str(threads_each))  # torchrun's own default would warn
    command = [*without(without(argv, "--jobs"), "--threads"), "--distribute", "sweep", "--threads", str(threads_each)]
    return launch.main(["--nnodes", "1", "--nproc-per-node", str(jobs), "--master-addr", LOCALHOST,
                        "--master-port", str(free_port()), *command])


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now: the ranks' rendezvous binds nowhere else."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


def without(argv: list[str], flag: str) -> list[str]:
    """``argv`` without ``flag N`` / ``flag=N`` (the ranks get ``--threads`` of their own and no ``--jobs``)."""
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == flag:
            skip = True
        elif not word.startswith(flag + "="):
            kept.append(word)
    return kept


def typed_command(environ: Mapping[str, str] = os.environ) -> list[str] | None:
    """The command the user typed, when ``--jobs`` started this process; None otherwise."""
    text = environ.get(COMMAND)
    return json.loads(text) if text else None


def suite_runtime(trains: bool, runtime: Runtime, environ: Mapping[str, str] = os.environ) -> Runtime:
    """The runtime a suite's rows record: under ``--jobs``, a suite that does not train (run by
    rank 0 alone) has every thread the ranks share; any other suite, ``runtime`` itself. The
    summary selects the rows of a run, and ``--resume`` skips them, by these threads."""
    total = environ.get(SOLO_THREADS)
    if trains or total is None or not runtime.world.active or int(total) == runtime.threads:
        return runtime
    return replace(runtime, threads=int(total))


@contextmanager
def solo_threads(runtime: Runtime) -> Iterator[Runtime]:
    """Torch set to ``runtime``'s thread count while a suite runs with it (``suite_runtime``), restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(runtime.threads)
    try:
        yield runtime
    finally:
        torch.set_num_threads(before)
