"""The tasks suite end to end on the tiny preset (wiring, not accuracy), its checks and its bad input."""

import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pe_bench.cli import app
from pe_bench.errors import InputError
from pe_bench.runtime import make_runtime
from pe_bench.suite import RunContext
from pe_bench.suites.tasks import SUITE, TASKS_TABLE, evaluate_one
from pe_bench.suites.tasks.report import SUMMARY, render, summarize
from pe_bench.suites.tasks.generators import TASKS

RUNTIME = make_runtime("cpu")


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> pd.DataFrame:
    """Learned (a table) and ALiBi, plain and with randomized positions, on every task."""
    settings = SUITE.settings("tiny", randomize_positions=2)
    out = tmp_path_factory.mktemp("tasks")
    found = [row for _, batch in SUITE.run(("learned", "alibi"), settings, RunContext(RUNTIME, out)) for row in batch]
    return pd.DataFrame(found)


def test_every_encoding_variant_task_length_and_depth_has_a_row(rows):
    settings = SUITE.settings("tiny")
    assert set(rows["variant"]) == {"learned", "learned+rand", "learned+rand@rand", "alibi", "alibi+rand",
                                    "alibi+rand@rand"}
    for task in TASKS:
        mine = rows[(rows["task"] == task) & (rows["variant"] == "alibi")]
        depths = len(TASKS[task].depths or {"": 0})
        assert sorted(mine["eval_len"]) == sorted(n for n in settings.lengths(task) for _ in range(depths))
    assert set(rows.loc[rows["task"] == "passkey", "depth"]) == {"start", "middle", "end"}
    assert list(rows.columns) == list(TASKS_TABLE.column_names)
    assert set(rows.loc[rows["variant"].str.contains("+rand", regex=False), "randomized"]) == {2}
    asked_twice = rows[rows["variant"].str.startswith("alibi+rand")].groupby("variant")["eval_len"].apply(sorted)
    assert asked_twice["alibi+rand"] == asked_twice["alibi+rand@rand"]  # the same model, both layouts


def test_learned_past_its_table_is_unsupported_but_its_rand_variant_reaches_the_span(rows):
    learned = rows[rows["variant"] == "learned"]
    past = learned[learned["eval_len"] > learned["train_len"]]
    assert len(past) and not past["supported"].any() and past["note"].str.contains("does not exist").all()
    assert learned.loc[learned["eval_len"] == learned["train_len"], "supported"].all()
    rand = rows[rows["variant"] == "learned+rand"]  # its table holds the span, 2L positions
    assert rand.loc[rand["eval_len"] <= 2 * rand["train_len"], "supported"].all()
    assert not rand.loc[rand["eval_len"] > 2 * rand["train_len"], "supported"].empty
    assert not rand.loc[rand["eval_len"] > 2 * rand["train_len"], "supported"].any()
    at_random = rows[rows["variant"] == "learned+rand@rand"]  # positions drawn from the span: none past 2L
    assert at_random.loc[at_random["eval_len"] <= 2 * at_random["train_len"], "supported"].all()
    beyond = at_random[at_random["eval_len"] > 2 * at_random["train_len"]]
    assert len(beyond) and beyond["note"].str.contains("cannot be drawn from the training span").all()


def test_a_model_below_the_threshold_at_L_is_marked_not_learned(rows):
    # three training steps learn nothing: every row must say so rather than pass as a failure to generalize
    assert not rows["learned"].any()
    assert rows.loc[rows["supported"], "note"].str.contains("not learned").all()
    text = str(render({"tasks": rows}).renderables[0].columns[-1]._cells)
    assert "not learned" in text
    assert summarize({"tasks": rows}, "alibi") == {**{f"{t}_4L": "not learned" for t in TASKS}, "tasks_seeds": 1}


def test_a_schedule_deeper_than_the_tasks_model_is_unsupported_not_not_learned(tmp_path):
    settings = replace(SUITE.settings("tiny"), tasks=("recall",))
    found = pd.DataFrame([row for _, batch in SUITE.run(("irope",), settings, RunContext(RUNTIME, tmp_path))
                          for row in batch])
    assert len(found) and not found["supported"].any() and found["note"].str.contains("names 4 layers").all()
    assert summarize({"tasks": found}, "irope")["recall_4L"] == "unsupported"
    assert "unsupported" in str(render({"tasks": found}).renderables[0].columns[-1]._cells)


def test_a_learned_model_reports_its_accuracy_at_4L(rows):
    learned = rows.assign(learned=True, accuracy=0.5)
    summary = summarize({"tasks": learned}, "alibi")
    assert {t: summary[f"{t}_4L"] for t in TASKS} == {t: 0.5 for t in TASKS} and summary["tasks_seeds"] == 1
    assert all(math.isnan(summary[f"{t}_4L_ci95"]) for t in TASKS)  # one seed: no interval


def test_seeds_give_a_mean_and_interval_and_a_seed_that_did_not_learn_is_left_out(rows):
    one = rows[rows["variant"] == "alibi"].assign(learned=True, accuracy=0.5)
    three = pd.concat([one, one.assign(seed=1, accuracy=0.7), one.assign(seed=2, accuracy=0.0, learned=False)])
    summary = summarize({"tasks": three}, "alibi")
    assert summary["copy_4L"] == 0.6 and summary["copy_4L_ci95"] > 0 and summary["tasks_seeds"] == 3
    assert "learned by 2 of 3 seeds" in str(render({"tasks": three}).renderables[0].columns[-1]._cells)
    claim = next(c for c in SUMMARY.claims if c.name == "copy accuracy at 4L")
    assert not claim.lower_is_better and list(claim.measure({"tasks": three}, "alibi")) == [0.5, 0.7]


def test_one_function_trains_and_evaluates_one_encoding_variant_task_and_seed(tmp_path):
    settings = replace(SUITE.settings("tiny"), seeds=(3,), factors=(1,), randomize_positions=2)
    found = evaluate_one("rope", "copy", True, 3, settings, RunContext(RUNTIME, tmp_path))
    assert {r["seed"] for r in found} == {3} and {r["variant"] for r in found} == {"rope+rand", "rope+rand@rand"}
    assert len(list((tmp_path / "checkpoints").glob("rope-*.pt"))) == 1


def test_validate_refuses_what_cannot_run():
    with pytest.raises(InputError, match="unknown task 'sort'"):
        SUITE.settings("tiny", tasks=("sort",))
    with pytest.raises(InputError, match="too short for task passkey"):
        SUITE.settings("tiny", train_len=50)
    with pytest.raises(InputError, match="--randomize-positions"):
        SUITE.settings("tiny", randomize_positions=-1)


def invoke(*args: str):
    return CliRunner().invoke(app, ["compare", "--suite", "tasks", "--preset", "tiny", *args])


@pytest.mark.parametrize("args,message", [
    (["--tasks", "sort"], "unknown task 'sort'; valid: passkey, copy, recall, flipflop"),
    (["--flip-flop-probs", "0.2,0.7,0.2"], "summing to 1"),
    (["--flip-flop-probs", "0.2,0.8,0"], "leaves no read"),
    (["--flip-flop-probs", "0.5,0.5"], "three probabilities"),
    (["--flip-flop-probs", "a,b,c"], "comma-separated numbers"),
    (["--train-len", "64"], "--train-len 64 is too short for task passkey"),
    (["--tasks", "copy", "--train-len", "3"], "--train-len 3 is too short for task copy"),
    (["--randomize-positions", "0"], "must hold the longest training example"),
    (["--steps", "0"], "--steps must be >= 1"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, args, message):
    out = tmp_path / "out"
    result = invoke(*args, "--out", str(out))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not out.exists()


def test_a_tasks_table_with_missing_columns_exits_2_and_is_left_untouched(tmp_path: Path):
    out = tmp_path / "out"
    assert invoke("--encodings", "rope", "--tasks", "copy", "--no-plots", "--out", str(out)).exit_code == 0
    table = out / "tasks.csv"
    damaged = "\n".join(",".join(line.split(",")[:5]) for line in table.read_text().splitlines()) + "\n"
    table.write_text(damaged)
    for command in (["--encodings", "rope", "--tasks", "copy", "--resume", "--out", str(out)],):
        result = invoke(*command)
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
        assert "tasks.csv" in result.output
    result = CliRunner().invoke(app, ["plot", "--results", str(out), "--out", str(tmp_path / "plots")])
    assert result.exit_code == 2 and "tasks.csv" in result.output
    assert table.read_text() == damaged


def test_retrain_trains_again_instead_of_loading_the_checkpoint(tmp_path: Path, monkeypatch):
    """--retrain, documented for this suite, is accepted and retrains (it used to be refused)."""
    out = tmp_path / "out"
    args = ("--encodings", "nope", "--tasks", "copy", "--no-plots", "--out", str(out))
    assert invoke(*args).exit_code == 0
    from pe_bench.suites.tasks import measure
    trained = []
    real = measure.train
    monkeypatch.setattr(measure, "train", lambda *a, **k: trained.append(1) or real(*a, **k))
    assert invoke(*args).exit_code == 0 and not trained  # the checkpoint is loaded
    result = invoke(*args, "--retrain")
    assert result.exit_code == 0, result.output
    assert trained == [1]


def test_rows_name_the_suite_preset_not_the_model_preset_it_reshapes(tmp_path):
    """The standard preset widens quick's model: its rows (and figures) must still say standard."""
    settings = replace(SUITE.settings("standard"), seeds=(0,), factors=(1,), steps=1, n_examples=2, d_model=32)
    found = evaluate_one("nope", "copy", False, 0, settings, RunContext(RUNTIME, tmp_path))
    assert settings.model == "quick" and {r["preset"] for r in found} == {"standard"}
    assert SUITE.run_values(settings, RUNTIME)["preset"] == "standard"
    unsupported = evaluate_one("irope", "copy", False, 0, settings, RunContext(RUNTIME, tmp_path))  # too deep: no model
    assert {r["preset"] for r in unsupported} == {"standard"} and not any(r["supported"] for r in unsupported)
