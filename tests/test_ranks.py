"""Which rank does which job in a sweep: every (encoding, seed) job exactly once, dealt round-robin."""

from __future__ import annotations

from pe_bench.distributed import World
from pe_bench.ranks import batches, from_main, jobs_of, sweep_jobs
from pe_bench.runtime import make_runtime
from pe_bench.suite import RunContext
from pe_bench.suites import SUITES


def test_every_job_goes_to_exactly_one_rank():
    jobs = sweep_jobs(("rope", "alibi", "nope"), (0, 1))
    assert jobs == [("rope", 0), ("alibi", 0), ("nope", 0), ("rope", 1), ("alibi", 1), ("nope", 1)]
    for world_size in (1, 2, 4, 7):
        shares = [jobs_of(rank, world_size, jobs) for rank in range(world_size)]
        assert sorted(job for share in shares for job in share) == sorted(jobs)
        assert max(map(len, shares)) - min(map(len, shares)) <= 1  # as even as the count allows
    assert jobs_of(1, 2, jobs) == [("alibi", 0), ("rope", 1), ("nope", 1)]


def test_one_process_runs_the_suite_as_before(tmp_path):
    """Without a process group, ``batches`` is the suite's own run: every batch, in order."""
    suite = SUITES["speed"]
    settings = suite.settings("tiny", seq_lens=(8,), backends=("sdpa",), modes=("inference",))
    context = RunContext(make_runtime("cpu"), tmp_path)
    rows = [r for _, batch in batches(suite, ("rope",), settings, context) for r in batch]
    assert {r["encoding"] for r in rows} == {"rope", "nope"}
    assert from_main(World(), lambda: {"a": 1}) == {"a": 1}
