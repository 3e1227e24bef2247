"""Which rank runs what under torchrun, and which rows rank 0 writes; one process runs everything as before.

With several ranks (pe_bench/distributed.py):

- a suite that does not train (``Suite.trains`` false: speed, kvcache) runs on rank 0 alone
  (under ``--jobs``, with the threads of every rank: pe_bench/jobs.py); the other ranks wait for it (``World.sync``: no time limit) — their timings would only
  disturb rank 0's, and its numbers need no second model;
- a suite that trains, under ``--distribute ddp``: every rank runs it, training each model
  together (DDP) and evaluating the same trained model; rank 0 alone writes the rows;
- under ``--distribute sweep``: the (encoding, seed) jobs are dealt out over the ranks, rank
  r taking jobs r, r + N, r + 2N ...; each trains and evaluates its own alone, and rank 0
  writes its rows as they come and every other rank's when all are done (until then each
  other rank keeps its own on disk, so that a run cut off loses none: results/pending.py).
  A suite may split its work into phases (``Suite.sweep_phases``: the extrapolation suite
  evaluates RoPE's scalings once RoPE is trained), each dealt out the same way once every
  rank has ended the one before.

Nothing here names a suite; the runner calls ``batches`` where it would call ``suite.run``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

from pe_bench.distributed import World
from pe_bench.jobs import solo_threads, suite_runtime
from pe_bench.progress import Progress
from pe_bench.results import pending
from pe_bench.results.schema import Schema
from pe_bench.suite import Existing, Rows, RunContext, Suite
from pe_bench.suites import SUITES

T = TypeVar("T")


def jobs_of(rank: int, world_size: int, jobs: list[T]) -> list[T]:
    """Rank ``rank``'s share of ``jobs``: every ``world_size``-th job, starting at its own rank."""
    return jobs[rank::world_size]


def from_main(world: World, load: Callable[[], T]) -> T:
    """What ``load()`` returns on rank 0, on every rank (rank 0's folder is the one that counts)."""
    if not world.active:
        return load()
    world.sync()  # rank 0 may wait for another run's lock first: wait for it without a time limit
    return world.gather([load() if world.is_main else None])[0][0]


def batches(suite: Suite, encodings: tuple[str, ...], settings: Any, context: RunContext
            ) -> Iterator[tuple[Schema, Rows]]:
    """Run ``suite`` as this rank's share of the work; yield the (table, rows) batches this rank writes.

    Without a process group that is every batch of ``suite.run``; under torchrun, rank 0 gets
    every batch of the run and the other ranks none (see the module docstring).
    """
    world = context.runtime.world
    runtime = suite_runtime(suite.trains, context.runtime)  # under --jobs, a suite run alone has every thread
    context = suite.context(settings, replace(context, runtime=runtime))  # what --resume compares saved rows with
    if not world.active:
        yield from suite.run(encodings, settings, context)
    elif not suite.trains:
        if world.is_main:
            with solo_threads(runtime):
                yield from suite.run(encodings, settings, context)
        world.sync()
    elif world.collective:
        for batch in suite.run(encodings, settings, context):
            if world.is_main:
                yield batch
    else:
        yield from _sweep(suite, encodings, settings, context, world)


def _sweep(suite: Suite, encodings: tuple[str, ...], settings: Any, context: RunContext, world: World
           ) -> Iterator[tuple[Schema, Rows]]:
    alone = replace(context, runtime=replace(context.runtime, world=world.alone()))
    phases = suite.sweep_phases(encodings, settings)
    for i, phase in enumerate(phases):
        ran: list[tuple[Schema, Rows]] = []
        # a rank's consecutive jobs with the same settings (its encodings of one seed) run as one call
        for job_settings, jobs in itertools.groupby(jobs_of(world.rank, world.world_size, phase), key=lambda j: j[1]):
            for batch in suite.run(tuple(name for names, _ in jobs for name in names), job_settings, alone):
                if world.is_main:
                    yield batch
                if not world.is_main or i + 1 < len(phases):  # what the next phase, or rank 0, needs
                    ran.append(batch)
                if not world.is_main:  # on disk too: a run cut off before the phase ends keeps them
                    pending.keep(pending.path_for(context.out, suite.name, i, world.rank), ran)
        world.sync()  # ranks finish their jobs at different times: wait without a time limit
        everyone = world.gather(ran)
        if world.is_main:
            for rows_of_rank in everyone[1:]:
                yield from rows_of_rank
            pending.forget(context.out, suite.name, i)  # written now (the runner saves each batch it is given)
        if i + 1 < len(phases):
            alone = replace(alone, existing=alone.existing.plus(batch for batches in everyone for batch in batches))


def work_alongside(suites: dict[str, Any], encodings: tuple[str, ...], context: RunContext) -> dict:
    """What a rank other than 0 does in a run: its share of every suite's work (suite name -> settings).

    It writes nothing and returns no rows (an empty dict): rank 0 writes them all.
    """
    context = replace(context, progress=Progress(), existing=Existing(from_main(context.runtime.world, dict)))
    pending.discard(context.out, context.runtime.world.rank)  # rank 0 has merged what it could see (results/pending.py)
    for name, settings in suites.items():
        for _ in batches(SUITES[name], encodings, settings, context):
            pass
    return {}
