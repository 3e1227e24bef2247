"""Running under ``torchrun``: which process this is, the process group, and the few collectives pe-bench needs.

torchrun starts one process per rank and tells each, in its environment, who it is (RANK,
WORLD_SIZE, LOCAL_RANK) and where the rendezvous is (MASTER_ADDR, MASTER_PORT). ``start``
reads that, joins the process group — gloo on CPU, nccl on CUDA — within a bounded time, and
returns a ``World``; started any other way, pe-bench is a world of one with no process group,
and every helper here does nothing.

Two ways to use several ranks (``--distribute``):

- ``ddp``: every rank trains the same model on its slice of each global batch
  (DistributedDataParallel, training.py); ``World.collective`` is true.
- ``sweep``: the (encoding, seed) jobs are dealt out over the ranks, each trains its own alone
  and rank 0 gathers the rows (pe_bench/ranks.py); inside a job the world is not collective.

Waiting for another rank's work of unknown length (rank 0 running a suite alone, a sweep's
ranks finishing at different times) goes through ``sync``, which polls the rendezvous store
and has no time limit; every collective has one (``COLLECTIVE_TIMEOUT_S``). A rank that fails
exits non-zero, and torchrun then stops the others, so nothing waits for a dead rank.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from pe_bench.errors import InputError

DISTRIBUTE = ("ddp", "sweep")
#: joining the process group: a rank that cannot reach the rendezvous gives up after this
RENDEZVOUS_TIMEOUT_S = 60
#: one collective (a gradient all-reduce, a broadcast): a rank that never arrives is an error after this
COLLECTIVE_TIMEOUT_S = 600
_LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class World:
    """This process's place among the ranks; ``World()`` is a single process with no process group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # "gloo" or "nccl"; None without a process group
    distribute: str = "ddp"  # how several ranks share the work: DISTRIBUTE
    store: Any = field(default=None, compare=False, repr=False)  # the rendezvous store, for ``sync``
    _syncs: Any = field(default_factory=itertools.count, compare=False, repr=False)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes tables, checkpoints, the manifest, figures and output."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """True when several ranks share a process group."""
        return self.world_size > 1 and self.backend is not None

    @property
    def collective(self) -> bool:
        """True when the ranks train one model together (DDP): they must agree at every step."""
        return self.active and self.distribute == "ddp"

    @property
    def saves_checkpoints(self) -> bool:
        """Rank 0 under DDP (every rank holds the same model); every rank in a sweep (its own jobs' models)."""
        return self.is_main or not self.collective

    def alone(self) -> World:
        """This rank working on its own (a sweep's jobs): not collective, and ``sync`` does nothing,
        so a rank with more jobs than another can never meet it at the wrong place."""
        return World(self.rank, self.world_size, self.local_rank, self.backend, "sweep")

    def record(self) -> dict[str, Any]:
        """What the manifest records about the ranks."""
        return {"world_size": self.world_size, "backend": self.backend,
                "distribute": self.distribute if self.world_size > 1 else None}

    def sync(self) -> None:
        """Wait, with no time limit, until every rank has called ``sync`` as often as this one."""
        if not self.active or self.store is None:
            return
        key = f"pe-bench/sync/{next(self._syncs)}"
        self.store.add(key, 1)
        while self.store.add(key, 0) < self.world_size:
            time.sleep(0.05)

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank, when collective; ``value`` itself otherwise."""
        if not self.collective:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def copy_weights_from_main(self, model: nn.Module) -> None:
        """Rank 0's parameters and buffers into every rank's ``model``, when collective."""
        if self.collective:
            for tensor in model.state_dict().values():
                dist.broadcast(tensor, src=0)

    def mean(self, value: torch.Tensor) -> float:
        """The mean of a scalar over the ranks, when collective (the same answer everywhere)."""
        if self.collective:
            value = value.detach().clone()
            dist.all_reduce(value)
            value /= self.world_size
        return value.item()

    def gather(self, items: list) -> list[list]:
        """Every rank's ``items``, in rank order, on every rank; ``[items]`` without a process group."""
        if not self.active:
            return [items]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, items)
        return gathered

    def first_problem(self, problem: str | None) -> str | None:
        """The first rank's problem (None if none has one), the same on every rank; named by rank if not 0's."""
        if not self.active:
            return problem
        for rank, found in enumerate(self.gather([problem])):
            if found[0] is not None:
                return found[0] if rank == 0 else f"rank {rank}: {found[0]}"
        return None


SINGLE = World()


def launched(environ: Mapping[str, str] = os.environ) -> bool:
    """True if a launcher such as torchrun started this process (RANK, WORLD_SIZE and LOCAL_RANK are set)."""
    return all(name in environ for name in _LAUNCH_VARIABLES)


def rank_from_environment(environ: Mapping[str, str] = os.environ) -> int:
    """This process's rank as the launcher set it (0 outside a launcher); readable before any process group."""
    try:
        return int(environ.get("RANK", "0"))
    except ValueError:
        return 0


def backend_for(device: torch.device) -> str:
    """gloo for CPU tensors, nccl for CUDA ones; InputError if this torch build has neither that nor any."""
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"torchrun with --device {device.type}: no distributed backend trains on {device.type}; "
                         "use --device cpu or cuda")
    backend = "nccl" if device.type == "cuda" else "gloo"
    available = dist.is_available() and (dist.is_nccl_available() if backend == "nccl" else dist.is_gloo_available())
    if not available:
        raise InputError(f"started by torchrun, but this torch build has no usable {backend} backend for "
                         f"{device.type} tensors; install a torch with torch.distributed ({backend}) or run "
                         "without torchrun")
    return backend


def start(device: torch.device, distribute: str = "ddp", environ: Mapping[str, str] = os.environ,
          rendezvous_timeout_s: float = RENDEZVOUS_TIMEOUT_S) -> tuple[World, torch.device]:
    """Join torchrun's process group if launched by it; the world and the device this rank uses.

    Outside a launcher, or with a world of one, no process group is made and ``device`` is
    returned as given. On CUDA, each rank takes the GPU of its local rank. InputError (on
    every rank alike) for an unknown ``distribute``, no usable backend, fewer GPUs than local
    ranks, or a rendezvous that cannot be reached within ``rendezvous_timeout_s``.
    """
    if distribute not in DISTRIBUTE:
        raise InputError(f"unknown --distribute '{distribute}'; valid: {', '.join(DISTRIBUTE)}")
    if not launched(environ):
        return World(distribute=distribute), device
    rank, world_size, local_rank = (int(environ[name]) for name in _LAUNCH_VARIABLES)
    if world_size == 1:
        return World(distribute=distribute), device
    backend = backend_for(device)
    if device.type == "cuda":
        gpus = torch.cuda.device_count()
        if local_rank >= gpus:
            raise InputError(f"--nproc-per-node is larger than the {gpus} GPUs of this node; start at most {gpus} "
                             "processes per node")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    where = f"{environ.get('MASTER_ADDR', '?')}:{environ.get('MASTER_PORT', '?')}"
    try:
        store, _, _ = next(dist.rendezvous("env://", rank=rank, world_size=world_size,
                                           timeout=timedelta(seconds=rendezvous_timeout_s)))
        dist.init_process_group(backend, store=store, rank=rank, world_size=world_size,
                                timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_S))
    except (RuntimeError, ValueError, OSError) as e:  # DistNetworkError, DistStoreError, a timeout
        reason = " ".join(str(e).split())[:200]
        raise InputError(f"rank {rank} cannot reach the rendezvous at {where} within {rendezvous_timeout_s:g} s "
                         f"({reason}); check MASTER_ADDR / --rdzv-endpoint and that the port is open") from None
    return World(rank, world_size, local_rank, backend, distribute, store), device


def stop(world: World) -> None:
    """Leave the process group, if this process joined one, together with every other rank.

    The ranks meet on the store before and after tearing the group down: a rank that destroyed
    its group while another was still finishing the last gather, or whose store host (rank 0)
    had already gone, could abort at exit ("terminate called without an active exception",
    seen once in CI on a sweep's rank 1, which finishes its jobs first).
    """
    if world.active and dist.is_initialized():
        world.sync()
        dist.destroy_process_group()
        world.sync()
