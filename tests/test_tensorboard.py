"""``--tensorboard DIR``: each trained model's loss and learning rate per step and its evaluation per
length, as TensorBoard runs; without the tensorboard package, one line and exit 2 before any work."""

from __future__ import annotations

import importlib.util
import math
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import pe_bench
from pe_bench.cli import app
from pe_bench.model import build_model
from pe_bench.runtime import make_runtime
from pe_bench.suites import SUITES
from pe_bench.tensorboard import Board, run_name
from pe_bench.training import TrainConfig, learning_rate, train

INSTALLED = importlib.util.find_spec("tensorboard") is not None
TINY_TRAINING = ["--preset", "tiny", "--suite", "extrapolation", "--device", "cpu"]


class FakeWriter:
    """torch's SummaryWriter, as far as pe-bench uses it: what each run's writer was given."""

    written: dict[str, list[tuple[str, float, int]]] = {}

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        FakeWriter.written[log_dir] = []

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        FakeWriter.written[self.log_dir].append((tag, value, step))

    def close(self) -> None:
        pass


@pytest.fixture
def fake_tensorboard(monkeypatch: pytest.MonkeyPatch) -> type[FakeWriter]:
    module = types.ModuleType("torch.utils.tensorboard")
    module.SummaryWriter = FakeWriter  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", module)
    FakeWriter.written = {}
    return FakeWriter


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.mark.parametrize("command", [["run", "-e", "alibi"], ["compare", "--encodings", "alibi"]])
def test_without_the_tensorboard_package_it_is_one_line_exit_2_and_nothing_written(monkeypatch, tmp_path, command):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # what a missing package gives: ImportError
    result = invoke(*command, *TINY_TRAINING, "--out", str(tmp_path / "out"), "--tensorboard", str(tmp_path / "tb"))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "tensorboard package, which is not installed" in lines[0] and 'pip install "pe-bench[tensorboard]"' in lines[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "tb").exists()


def test_a_run_whose_suites_train_nothing_refuses_the_option(fake_tensorboard, tmp_path):
    result = invoke("run", "-e", "alibi", "--suite", "speed", "--preset", "tiny", "--out", str(tmp_path / "out"),
                    "--tensorboard", str(tmp_path / "tb"))
    training = [name for name, suite in SUITES.items() if suite.trains]
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "which this run does not include" in result.output and all(name in result.output for name in training)
    assert not (tmp_path / "out").exists() and not (tmp_path / "tb").exists()


def test_a_folder_pe_bench_may_not_write_into_is_refused(fake_tensorboard, tmp_path):
    (tmp_path / "a-file").write_text("x")
    result = invoke("run", "-e", "alibi", *TINY_TRAINING, "--out", str(tmp_path / "out"),
                    "--tensorboard", str(tmp_path / "a-file"))
    assert result.exit_code == 2 and "--tensorboard" in result.output and "existing file" in result.output
    assert not (tmp_path / "out").exists()


def test_training_hands_every_step_its_loss_and_learning_rate_and_the_board_writes_them(fake_tensorboard, tmp_path):
    config = TrainConfig(train_len=8, steps=7, batch_size=2, lr=1e-3, warmup=2, seed=0, log_every=3)
    data = torch.randint(0, 256, (400,), dtype=torch.uint8)
    board = Board(tmp_path / "tb")
    result = train(build_model("alibi", "tiny"), data, config, make_runtime("cpu"), on_step=board.steps("a/run"))
    board.close()
    written = fake_tensorboard.written[str(tmp_path / "tb" / "a" / "run")]
    losses = [(step, value) for tag, value, step in written if tag == "train/loss"]
    assert [step for step, _ in losses] == list(range(1, 8))
    assert dict(losses)[6] == pytest.approx(next(p["loss"] for p in result.curve if p["step"] == 6))
    rates = {step: value for tag, value, step in written if tag == "train/learning_rate"}
    assert rates == {step: pytest.approx(learning_rate(step - 1, config)) for step in range(1, 8)}


def test_a_board_without_a_folder_writes_nothing(fake_tensorboard):
    Board().steps("a/run")(1, {"train/loss": 1.0})
    assert fake_tensorboard.written == {}


def test_run_names_leave_out_a_variant_that_is_the_encoding():
    assert run_name("tasks", "rope", 0, "rope", "copy") == "tasks/rope/copy/seed0"
    assert run_name("tasks", "rope", 2, "rope+rand", "copy") == "tasks/rope/rope+rand/copy/seed2"
    assert run_name("extrapolation", "rope", 0, "rope-ntk") == "extrapolation/rope/rope-ntk/seed0"


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory):
    """One tiny run of both training suites with --tensorboard, through the real tensorboard package."""
    if not INSTALLED:
        pytest.skip('the tensorboard package is not installed (pip install "pe-bench[tensorboard]")')
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = tmp_path_factory.mktemp("tensorboard")
    corpus = root / "corpus.txt"  # small, so the run does not read the standard library
    words = "def return self import class for while if else value index data result item".split()
    corpus.write_text("\n".join(" ".join(words[(i * 7 + j) % len(words)] for j in range(i % 9 + 3))
                                for i in range(3000)))
    pe_bench.run("alibi", ("extrapolation", "tasks"), "tiny", device="cpu", out=root / "out",
                 tensorboard=root / "tb", corpus=corpus, tasks=("copy",))

    def scalars(run: str) -> dict[str, dict[int, float]]:
        events = EventAccumulator(str(root / "tb" / run))
        events.Reload()
        return {tag: {e.step: e.value for e in events.Scalars(tag)} for tag in events.Tags()["scalars"]}

    return root, scalars


def test_each_trained_model_is_a_run_with_its_loss_per_step(logged):
    root, scalars = logged
    runs = sorted(str(p.parent.relative_to(root / "tb")) for p in (root / "tb").rglob("events.out.tfevents.*"))
    assert runs == ["extrapolation/alibi/seed0", "tasks/alibi/copy/seed0"]
    assert (root / "tb" / ".pe-bench").is_file()  # pe-bench's folder, as --out is: a later run may write there
    steps = SUITES["extrapolation"].settings("tiny").steps
    extrapolation = scalars("extrapolation/alibi/seed0")
    assert sorted(extrapolation["train/loss"]) == list(range(1, steps + 1))
    assert len(extrapolation["train/learning_rate"]) == steps
    training = pd.read_csv(root / "out" / "training.csv")  # every 10 steps: the same losses
    for _, row in training[training["encoding"] == "alibi"].iterrows():
        assert extrapolation["train/loss"][row["step"]] == pytest.approx(row["loss"], rel=1e-5)
    assert "train/loss" in scalars("tasks/alibi/copy/seed0")


def test_evaluation_is_a_curve_over_the_evaluation_lengths(logged):
    root, scalars = logged
    rows = pd.read_csv(root / "out" / "extrapolation.csv")
    ppl = rows[(rows["encoding"] == "alibi") & (rows["task"] == "lm") & (rows["eval_mode"] == "nonoverlap")]
    logged_ppl = scalars("extrapolation/alibi/seed0")["eval/ppl/nonoverlap"]
    assert logged_ppl == {int(r["eval_len"]): pytest.approx(r["value"], rel=1e-5) for _, r in ppl.iterrows()}
    assert "eval/ppl/sliding" in scalars("extrapolation/alibi/seed0")
    tasks = pd.read_csv(root / "out" / "tasks.csv")
    accuracy = scalars("tasks/alibi/copy/seed0")["eval/accuracy"]
    expected = {int(r["eval_len"]): r["accuracy"] for _, r in tasks.iterrows() if not math.isnan(r["accuracy"])}
    assert accuracy == pytest.approx(expected) and len(accuracy) == len(SUITES["tasks"].settings("tiny").factors)
