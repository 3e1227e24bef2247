"""The extrapolation suite on a tiny model and a corpus made here. No timings asserted."""

import math
import random
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from pe_bench import checkpoints
from pe_bench.cli import app
from pe_bench.data import load_corpus
from pe_bench.errors import InputError
from pe_bench.model import build_model
from pe_bench.results.folder import claim
from pe_bench.runtime import make_runtime
from pe_bench.suite import RunContext
from pe_bench.suites.extrapolation import SUITE
from pe_bench.training import TrainConfig, train

from conftest import BASE_ENCODINGS

RUNTIME = make_runtime("cpu")


def settings_for(preset: str, **overrides):
    return SUITE.settings(preset, **overrides)
WORDS = "def return self import class for while if else value index data result item list key".split()


def write_corpus(folder: Path, n_files: int = 6, lines: int = 400) -> Path:
    """A few files of code-like text, the same every time."""
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        text = "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(lines))
        (folder / f"file{i}.py").write_text(text + "\n")
    return folder


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def run(corpus_dir, tmp_path_factory):
    """One tiny run of every base encoding; returns (tables, out folder)."""
    out = tmp_path_factory.mktemp("out")
    settings = settings_for("tiny", corpus=corpus_dir)
    tables: dict[str, list] = {}
    for schema, rows in SUITE.run(tuple(BASE_ENCODINGS), settings, RunContext(RUNTIME, out)):
        tables.setdefault(schema.name, []).extend(rows)
    return {k: pd.DataFrame(v) for k, v in tables.items()}, out


def test_corpus_loader_is_deterministic_with_a_stable_checksum(corpus_dir):
    a, b = load_corpus(corpus_dir), load_corpus(corpus_dir)
    assert a.checksum == b.checksum and torch.equal(a.train, b.train) and torch.equal(a.val, b.val)
    assert a.files == 6 and a.bytes == a.train.numel() + a.val.numel()
    assert 0.08 < a.val.numel() / a.bytes < 0.12
    (corpus_dir / "file0.py").write_text((corpus_dir / "file0.py").read_text() + "x")
    assert load_corpus(corpus_dir).checksum != a.checksum
    (corpus_dir / "file0.py").write_text((corpus_dir / "file0.py").read_text()[:-1])


def test_default_corpus_is_the_standard_library():
    corpus = load_corpus()
    assert corpus.name.startswith("python-stdlib-") and corpus.files > 100 and corpus.bytes > 1_000_000


def test_training_lowers_the_loss(corpus_dir):
    model = build_model("alibi", "tiny", max_len=16)
    config = TrainConfig(train_len=16, steps=60, batch_size=8, lr=3e-3, warmup=5, seed=0)
    result = train(model, load_corpus(corpus_dir).train, config, RUNTIME)
    assert not result.diverged
    assert result.curve[-1]["loss"] < result.curve[0]["loss"] - 0.3


def test_diverging_training_is_recorded_not_raised(corpus_dir):
    model = build_model("rope", "tiny", max_len=16)
    config = TrainConfig(train_len=16, steps=40, batch_size=8, lr=1e4, warmup=1, seed=0)
    result = train(model, load_corpus(corpus_dir).train, config, RUNTIME)
    assert result.diverged and "diverged" in result.note


def test_rows_for_every_length_and_learned_unsupported_past_its_table(run):
    tables, _ = run
    lm = tables["extrapolation"]
    lm = lm[(lm["task"] == "lm") & (lm["metric"] == "ppl") & lm["eval_mode"].isin(["nonoverlap", "sliding"])]
    base = lm[lm["variant"] == lm["encoding"]]
    assert len(base) == len(BASE_ENCODINGS) * 5 * 2  # encodings x lengths x modes
    learned = base[base["encoding"] == "learned"]
    assert learned[learned["eval_len"] == 16]["supported"].all()
    past = learned[learned["eval_len"] > 16]
    assert not past["supported"].any() and past["note"].str.contains("16 positions").all()
    ok = base[base["supported"]]
    assert (ok["value"] > 1).all() and (ok["value"] < 256).all()


def test_rope_variants_and_streaming_rows_exist(run):
    tables, _ = run
    df = tables["extrapolation"]
    variants = set(df[df["encoding"] == "rope"]["variant"])
    assert variants == {"rope", "rope-pi", "rope-ntk", "rope-yarn", "rope-dynamic", "rope-llama3", "rope-longrope"}
    dynamic = df[(df["variant"] == "rope-dynamic") & (df["eval_mode"] == "cached_decode")]
    assert set(dynamic["metric"]) == {"ppl", "max_abs_logit_diff"}
    switch = df[df["variant"] == "rope-longrope"].set_index(["eval_mode", "metric"])["value"]
    assert switch[("cached_switch", "max_abs_logit_diff")] > 1e-5  # stale short-factor keys; exact decoding is ~1e-6
    assert switch[("reprefill", "ppl")] > 1 and switch[("cached_switch", "ppl")] > 1
    stream = df[df["task"] == "stream"]
    assert set(stream["eval_mode"]) == {"full", "window-original", "window-slot", "sinks-original", "sinks-slot"}
    learned = stream[stream["encoding"] == "learned"].set_index(["eval_mode", "metric"])
    assert not learned.loc[("window-original", "ppl"), "supported"]  # positions past its table
    assert learned.loc[("window-slot", "ppl"), "supported"]  # slot positions stay inside it


def test_loss_curves_are_recorded(run):
    tables, _ = run
    training = tables["training"]
    assert set(training["encoding"]) == set(BASE_ENCODINGS)
    assert (training["tokens_per_s"] > 0).all()


def test_checkpoint_reuse_skips_training(run, corpus_dir, monkeypatch):
    _, out = run
    assert len(list((out / "checkpoints").glob("*.pt"))) == len(BASE_ENCODINGS)

    def no_training(*args, **kwargs):
        raise AssertionError("a checkpoint existed: training should have been skipped")

    monkeypatch.setattr("pe_bench.suites.extrapolation.measure.train", no_training)
    settings = settings_for("tiny", corpus=corpus_dir, variants=())
    rows = [r for _, batch in SUITE.run(("rope",), settings, RunContext(RUNTIME, out)) for r in batch]
    assert rows


def test_interrupted_training_leaves_no_checkpoint(corpus_dir, tmp_path):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    settings = settings_for("tiny", corpus=corpus_dir, variants=())
    from pe_bench.suites.extrapolation import measure as extrapolation

    original = extrapolation.train
    extrapolation.train = lambda model, data, config, runtime, advance, **rest: original(model, data, config, runtime,
                                                                                        interrupt, **rest)
    try:
        with pytest.raises(KeyboardInterrupt):
            list(SUITE.run(("nope",), settings, RunContext(RUNTIME, tmp_path)))
    finally:
        extrapolation.train = original
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("*.tmp"))


def invoke(*args: str):
    return CliRunner().invoke(app, ["compare", "--suite", "extrapolation", "--preset", "tiny", *args])


@pytest.mark.parametrize("args,message", [
    (["--corpus", "/nonexistent/corpus"], "does not exist"),
    (["--train-len", "0"], "--train-len must be >= 2"),
    (["--steps", "0"], "--steps must be >= 1"),
    (["--steps", "x"], "Invalid value for '--steps'"),
    (["--eval-lens", "8"], "--eval-lens must be >= the training length 16"),
    (["--eval-lens", "a,b"], "--eval-lens must be integers"),
    (["--stride", "0"], "--stride must be >= 1"),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args, message):
    out = tmp_path / "out"
    result = invoke(*args, "--out", str(out))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not out.exists()


def test_empty_and_too_short_corpora_exit_2(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("--corpus", str(empty), "--out", str(tmp_path / "o1"))
    assert result.exit_code == 2 and "holds no files" in result.output
    short = tmp_path / "short.txt"
    short.write_text("print('hello')\n" * 20)
    result = invoke("--corpus", str(short), "--out", str(tmp_path / "o2"))
    assert result.exit_code == 2 and "too short" in result.output


def test_corrupt_checkpoint_exits_2_and_stays_untouched(run, corpus_dir, tmp_path):
    _, out = run
    path = next((out / "checkpoints").glob("rope-*.pt"))
    copy = tmp_path / "out" / "checkpoints" / path.name
    claim(tmp_path / "out")  # a pe-bench folder whose checkpoint someone damaged
    copy.parent.mkdir(parents=True)
    copy.write_bytes(b"not a checkpoint")
    result = invoke("--encodings", "rope", "--corpus", str(corpus_dir), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "is corrupt" in result.output
    assert copy.read_bytes() == b"not a checkpoint"
    assert not (tmp_path / "out" / "extrapolation.csv").exists()


def test_checkpoint_from_another_configuration_is_refused(run, corpus_dir):
    _, out = run
    path = next((out / "checkpoints").glob("rope-*.pt"))
    settings = settings_for("tiny", corpus=corpus_dir)
    other = checkpoints.identity("rope", settings.model_config(), settings.train_config(0), "another-corpus", RUNTIME)
    with pytest.raises(InputError, match="another configuration"):
        checkpoints.load(path, other, build_model("rope", settings.model_config()))


def test_corpus_under_a_dot_folder_is_read(tmp_path):
    folder = write_corpus(tmp_path / ".cache" / "corpus", n_files=2, lines=50)
    (folder / ".hidden").write_text("not text for training")
    corpus = load_corpus(folder)
    assert corpus.files == 2  # the dot-folder above the corpus is not "hidden"; .hidden inside it is


def test_train_len_must_leave_room_for_the_sinks(corpus_dir):
    with pytest.raises(InputError, match="--train-len must be larger than 4"):
        settings_for("tiny", corpus=corpus_dir, train_len=4)


def test_report_of_a_folder_with_two_settings_reads_only_this_runs_rows(corpus_dir, tmp_path):
    """Two extrapolation runs with different training lengths into one folder: each report is its own."""
    for train_len in ("16", "32"):
        result = invoke("--encodings", "alibi", "--corpus", str(corpus_dir), "--train-len", train_len,
                        "--eval-lens", train_len, "--no-plots", "--out", str(tmp_path))
        assert result.exit_code == 0, result.output
    rows = pd.read_csv(tmp_path / "extrapolation.csv")
    assert set(rows["train_len"]) == {16, 32}
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 1 and not math.isnan(summary["ppl_L"].iloc[0])
    assert "trained at L = 32" in (tmp_path / "summary.md").read_text()
