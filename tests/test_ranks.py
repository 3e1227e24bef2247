"""Which rank does which job in a sweep: every (encoding, seed) job exactly once, dealt round-robin."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
import pytest

from pe_bench.distributed import World
from pe_bench.encodings.rope_scaling import ROPE_SCALING
from pe_bench.ranks import _sweep, batches, from_main, jobs_of, work_alongside
from pe_bench.results import pending
from pe_bench.suite import sweep_jobs
from pe_bench.runtime import make_runtime
from pe_bench.suite import RunContext
from pe_bench.suites import SUITES
from pe_bench.suites.extrapolation import measure
from pe_bench.training import DIVERGED, TrainResult, train


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


@dataclass(frozen=True)
class RankOfTwo(World):
    """One rank of a two-rank sweep, run in this process: ``gather`` hands over what the other rank
    measured in the same phase (recorded in ``measured`` when it ran first), ``sync`` waits for nobody."""

    measured: dict = field(default_factory=dict, compare=False)
    _phase: Any = field(default_factory=itertools.count, compare=False)

    def sync(self) -> None:
        pass

    def gather(self, items: list) -> list[list]:
        phase = next(self._phase)
        self.measured[(self.rank, phase)] = items
        return [self.measured.get((rank, phase), []) for rank in range(self.world_size)]


def diverging(trained: list[str], diverge: str | None):
    """``train`` that records which encodings it trains, and whose run of ``diverge`` diverges at once."""
    def train_or_diverge(model, *args, **kwargs):
        trained.append(type(model.encoding).__name__)
        if trained[-1] == diverge:
            return TrainResult([], math.nan, 0.0, note=f"{DIVERGED} at step 1 (loss nan)")
        return train(model, *args, **kwargs)
    return train_or_diverge


@pytest.mark.parametrize("case", ["trained", "--retrain", "RoPE diverges"])
def test_a_sweep_trains_rope_once_then_deals_its_scalings_over_the_ranks(case, tmp_path, monkeypatch):
    """Rank 1 trains RoPE, rank 0 ALiBi; then the six scalings go three to a rank, on RoPE's checkpoint,
    never a second RoPE (with --retrain too); a RoPE that diverged has no scalings. Rank 1 runs first, so
    rank 0's gathers receive its rows (rank 1's never receive rank 0's: it needs none of them)."""
    suite = SUITES["extrapolation"]
    settings = suite.settings("tiny", steps=4, eval_lens=(16,), stream_factor=2, retrain=case == "--retrain")
    trained: list[str] = []
    monkeypatch.setattr(measure, "train", diverging(trained, "RoPE" if case == "RoPE diverges" else None))
    measured: dict = {}
    yielded = {}
    for rank in (1, 0):
        world = RankOfTwo(rank, 2, backend="gloo", distribute="sweep", measured=measured)
        context = suite.context(settings, RunContext(replace(make_runtime("cpu"), world=world), tmp_path))
        yielded[rank] = [row for _, rows in _sweep(suite, ("alibi", "rope"), settings, context, world) for row in rows]
        if rank == 1:  # rank 1 kept every row it handed over on disk as well, each phase in its own file
            kept = {path.name: json.loads(path.read_text()) for path in (tmp_path / pending.FOLDER).iterdir()}
            assert kept == {f"extrapolation-phase{phase}-rank1.json": [
                {"table": schema.name, "rows": json.loads(json.dumps(rows, default=float))}
                for schema, rows in measured[(1, phase)] if rows] for phase in (0, 1) if measured[(1, phase)]}
            assert kept["extrapolation-phase0-rank1.json"]  # RoPE's rows at least
    assert list((tmp_path / pending.FOLDER).iterdir()) == []  # rank 0 wrote them all: nothing left pending
    assert trained == ["RoPE", "ALiBi"]  # rank 0 evaluated its scalings on rank 1's RoPE, not a second one
    assert yielded[1] == []  # rank 0 alone writes
    # what rank 1 handed over in the second phase; rank 0 keeps none of its own rows there (nobody needs them)
    rank_1 = {row["variant"] for schema, rows in measured.get((1, 1), []) for row in rows
              if schema.name == "extrapolation"}
    lm = pd.DataFrame(yielded[0]).dropna(subset=["eval_mode"])
    assert not lm.duplicated(["variant", "task", "eval_len", "eval_mode", "metric"]).any()  # nothing measured twice
    if case == "RoPE diverges":
        assert rank_1 == set() and set(lm["variant"]) == {"alibi", "rope"}
        return
    assert rank_1 == {"rope-ntk", "rope-dynamic", "rope-longrope"}  # the other three: rank 0's
    assert set(lm["variant"]) == {"alibi", "rope", *ROPE_SCALING}


def test_another_rank_discards_the_rows_it_kept_in_an_earlier_run_once_rank_0_has_merged(tmp_path, monkeypatch):
    """Where rank 0 shares the folder it merged them before the run began; where it does not, nobody will."""
    monkeypatch.setattr("pe_bench.ranks.from_main", lambda world, load: load())
    pending.keep(pending.path_for(tmp_path, "tasks", 0, 1), [])
    pending.keep(pending.path_for(tmp_path, "tasks", 0, 2), [])
    world = World(1, 3, backend="gloo", distribute="sweep")
    work_alongside({}, ("rope",), RunContext(replace(make_runtime("cpu"), world=world), tmp_path))
    assert [p.name for p in (tmp_path / pending.FOLDER).iterdir()] == ["tasks-phase0-rank2.json"]
