"""Training kept part-way (training.Snapshots, checkpoints.snapshots): a run cut off goes on from its last
state and ends with the very weights and curve of a run never cut."""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from pe_bench import checkpoints, training
from pe_bench.distributed import World
from pe_bench.model import build_model, preset
from pe_bench.runtime import make_runtime
from pe_bench.training import DIVERGED, Snapshots, TrainConfig, train

CONFIG = preset("tiny")
TRAIN = TrainConfig(train_len=16, steps=8, batch_size=2, lr=3e-3, warmup=2, seed=3, log_every=2)
DATA = torch.randint(0, 256, (4000,), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
RUNTIME = make_runtime("cpu")


class Cut(Exception):
    """The run's end from outside (a time limit, a lost machine), at a chosen step."""


def in_memory(every_s: float = 0.0) -> tuple[Snapshots, list[dict]]:
    kept: list[dict] = []  # a copy of each state: its tensors are the model's own, which the next steps change
    return Snapshots(lambda: kept[-1] if kept else None, lambda state: kept.append(copy.deepcopy(state)),
                     kept.clear, every_s), kept


def cut_at(step: int, seen: list[int]):
    def on_step(n: int, values: dict) -> None:
        seen.append(n)
        if n == step:
            raise Cut
    return on_step


def from_torchs_random_state(generator: torch.Generator):
    """A sampler that ignores the generator it is handed (as a user's might): torch's own random state decides."""
    windows = torch.randint(0, 256, (2, 17))
    return windows[:, :-1], windows[:, 1:], None, None


@pytest.mark.parametrize("encoding, sampler", [("rope", None), ("kerple-log", None), ("rope", from_torchs_random_state)])
def test_a_run_cut_off_goes_on_from_its_last_state_to_the_weights_of_a_run_never_cut(encoding, sampler):
    torch.manual_seed(0)
    whole = build_model(encoding, CONFIG, seed=1)
    expected = train(whole, DATA, TRAIN, RUNTIME, sampler=sampler)
    snapshots, kept = in_memory()
    seen: list[int] = []
    torch.manual_seed(0)
    with pytest.raises(Cut):
        train(build_model(encoding, CONFIG, seed=1), DATA, TRAIN, RUNTIME, sampler=sampler, on_step=cut_at(7, seen),
              snapshots=snapshots)
    assert [state["step"] for state in kept] == [2, 4, 6]  # at logged steps, never the last
    torch.manual_seed(1234)  # whatever the new process's random state: the kept one is put back
    again = build_model(encoding, CONFIG, seed=2)  # other weights, overwritten by the kept ones
    seen.clear()
    result = train(again, DATA, TRAIN, RUNTIME, sampler=sampler, on_step=cut_at(0, seen), snapshots=snapshots)
    assert seen == [7, 8]  # went on from step 6
    assert len(result.curve) == len(expected.curve)
    assert result.curve == [{**point, "tokens_per_s": mine["tokens_per_s"]}
                            for point, mine in zip(expected.curve, result.curve)]  # the same losses, step by step
    for (name, a), b in zip(whole.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name
    assert result.seconds >= kept[-1]["seconds"]  # the time before the cut counts


def test_states_are_kept_at_logged_steps_but_the_last_and_count_the_seconds_of_every_run_before(monkeypatch):
    ticks = itertools.count()
    monkeypatch.setattr(training, "time", SimpleNamespace(perf_counter=lambda: float(next(ticks))))  # 1 s a look
    snapshots, kept = in_memory()
    with pytest.raises(Cut):
        train(build_model("rope", CONFIG, seed=1), DATA, TRAIN, RUNTIME, on_step=cut_at(5, []), snapshots=snapshots)
    before = kept[-1]["seconds"]
    result = train(build_model("rope", CONFIG, seed=1), DATA, TRAIN, RUNTIME, snapshots=snapshots)
    assert [state["step"] for state in kept] == [2, 4, 6]  # the last step's state would be the checkpoint
    assert before < kept[-1]["seconds"] < result.seconds  # time goes on across the cut


def test_a_run_that_diverges_discards_its_state_and_a_long_interval_keeps_none():
    snapshots, kept = in_memory()
    config = TrainConfig(train_len=16, steps=6, batch_size=2, lr=1e6, warmup=1, seed=0, log_every=1)
    result = train(build_model("rope", CONFIG, seed=0), DATA, config, RUNTIME, snapshots=snapshots)
    assert result.note.startswith(DIVERGED) and kept == []
    snapshots, kept = in_memory(every_s=math.inf)
    train(build_model("rope", CONFIG, seed=0), DATA, TRAIN, RUNTIME, snapshots=snapshots)
    assert kept == []


IDENT = checkpoints.identity("rope", CONFIG, TRAIN, "corpus-checksum", RUNTIME)


def test_the_state_is_kept_beside_the_checkpoint_and_gone_when_the_checkpoint_is_saved(tmp_path):
    path = checkpoints.path_for(tmp_path / "checkpoints", IDENT)
    seen: list[int] = []
    with pytest.raises(Cut):
        train(build_model("rope", CONFIG, seed=1), DATA, TRAIN, RUNTIME, on_step=cut_at(5, seen),
              snapshots=checkpoints.snapshots(path, IDENT, every_s=0))
    partial = checkpoints.partial_path(path)
    assert partial.name.endswith(".partial.pt") and partial.parent == path.parent
    assert checkpoints.snapshots(path, IDENT).load()["step"] == 4
    other = checkpoints.identity("rope", CONFIG, TRAIN, "another corpus", RUNTIME)
    assert checkpoints.snapshots(path, other).load() is None  # kept for another model
    model = build_model("rope", CONFIG, seed=1)
    seen.clear()
    result = train(model, DATA, TRAIN, RUNTIME, on_step=cut_at(0, seen), snapshots=checkpoints.snapshots(path, IDENT))
    assert seen[0] == 5
    checkpoints.save(path, IDENT, model, result)
    assert path.exists() and not partial.exists()


def test_retrain_starts_at_step_0_and_removes_the_state_an_earlier_run_kept(tmp_path):
    path = checkpoints.path_for(tmp_path, IDENT)
    checkpoints.snapshots(path, IDENT).keep({"step": 4})
    assert checkpoints.snapshots(path, IDENT).load() == {"step": 4}
    assert checkpoints.snapshots(path, IDENT, fresh=True).load() is None
    assert not checkpoints.partial_path(path).exists()


def test_a_state_whose_weights_are_another_models_is_not_used():
    """A user's encoding edited since (a parameter more): its training starts at step 0 instead of failing."""
    snapshots, kept = in_memory()
    with pytest.raises(Cut):
        train(build_model("kerple-log", CONFIG, seed=1), DATA, TRAIN, RUNTIME, on_step=cut_at(5, []),
              snapshots=snapshots)
    seen: list[int] = []
    train(build_model("rope", CONFIG, seed=1), DATA, TRAIN, RUNTIME, on_step=cut_at(0, seen), snapshots=snapshots)
    assert seen[0] == 1


def test_ranks_training_one_model_together_keep_no_state(monkeypatch):
    """Under DDP every rank would have to agree on the state to go on from: none is kept or used."""
    handed = []
    monkeypatch.setattr(training, "_train", lambda *args: handed.append(args[-1]))
    snapshots, _ = in_memory()
    ddp = replace(RUNTIME, world=World(0, 2, backend="gloo", distribute="ddp"))
    for runtime in (ddp, replace(RUNTIME, world=World(0, 2, backend="gloo", distribute="sweep"))):
        train(build_model("rope", CONFIG), DATA, TRAIN, runtime, snapshots=snapshots)
    assert handed == [Snapshots(), snapshots]


def test_a_state_that_cannot_be_read_is_not_used(tmp_path):
    path = checkpoints.path_for(tmp_path, IDENT)
    checkpoints.partial_path(path).write_bytes(b"PK\x03\x04 cut off")
    assert checkpoints.snapshots(path, IDENT).load() is None
    checkpoints.partial_path(path).unlink()
    checkpoints.partial_path(path).mkdir()
    assert checkpoints.snapshots(path, IDENT).load() is None


def test_every_suite_that_trains_keeps_its_state_beside_its_checkpoint(tmp_path, monkeypatch):
    """The extrapolation and tasks suites hand ``train`` the snapshots of the checkpoint they will save."""
    from pe_bench.data import Corpus
    from pe_bench.suite import RunContext
    from pe_bench.suites import SUITES
    from pe_bench.suites.extrapolation import measure as lm
    from pe_bench.suites.tasks import measure as tasks

    monkeypatch.setattr(checkpoints, "SNAPSHOT_EVERY_S", 0.0)
    partials: list[list[str]] = []

    def train_and_look(*args, **kwargs):
        result = train(*args, **kwargs)
        partials.append([p.name for p in (tmp_path / "checkpoints").glob("*.partial.pt")])
        return result

    made = []
    real = checkpoints.snapshots
    monkeypatch.setattr(checkpoints, "snapshots", lambda *args, **kw: made.append(kw) or real(*args, **kw))
    ctx = RunContext(RUNTIME, tmp_path)
    for module in (lm, tasks):
        monkeypatch.setattr(module, "train", train_and_look)
    corpus = Corpus("toy", 1, len(DATA), "c", DATA, DATA[:100])
    for retrain in (False, True):
        lm.trained_model("rope", SUITES["extrapolation"].settings("tiny", steps=11, retrain=retrain), 0, corpus, ctx)
        tasks.trained_model("alibi", "copy", False, 0, SUITES["tasks"].settings("tiny", steps=11, retrain=retrain), ctx)
    assert [[name.split("-")[0] for name in names] for names in partials] == [["rope"], ["alibi"]] * 2  # kept part-way
    assert list((tmp_path / "checkpoints").glob("*.partial.pt")) == []  # and removed with the checkpoint's save
    assert [kw["fresh"] for kw in made] == [False, False, True, True]  # --retrain: from step 0
