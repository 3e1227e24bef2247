"""pe-bench under torchrun on CPU: 2 gloo ranks on 127.0.0.1 against 1 process, DDP and sweep, bad input.

The launched runs are the tiny preset's training (extrapolation suite, a few steps, short
evaluation lengths), started together so they share the machine's cores, each bounded in
time. With the same seed and global batch, the 2-rank DDP run's perplexities and losses
equal the 1-process run's to float rounding: 2.4e-7 relative measured on this machine's
CPU, asserted at 1e-5. A sweep trains each model alone, as the single process does.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from dataclasses import replace

from typer.testing import CliRunner

from pe_bench import distributed
from pe_bench.cli import app
from pe_bench.distributed import World
from pe_bench.encodings.rope_scaling import ROPE_SCALING
from pe_bench.errors import InputError
from pe_bench.runner import execute, plan
from pe_bench.runtime import make_runtime
from pe_bench.suites.extrapolation import SUITE as EXTRAPOLATION
from pe_bench.training import shard

ROOT = Path(__file__).resolve().parents[1]
STEPS, EVAL_LENS = 10, (16, 32)
RUN = ["compare", "--preset", "tiny", "--suite", "extrapolation", "--steps", str(STEPS),
       "--eval-lens", ",".join(map(str, EVAL_LENS)), "--no-plots"]
TIMEOUT_S = 240  # a DDP launch: 26 s alone, 30 s beside another test worker on 2 cores
TOLERANCE = 1e-5  # relative; measured 2.4e-7
KEY = ["encoding", "variant", "task", "eval_len", "eval_mode", "stride", "metric"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    # OMP_NUM_THREADS set: torchrun prints no banner; every rank uses 1 thread, as torchrun would set
    return env | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"} | extra


def launch(command: list[str], **env: str) -> subprocess.Popen:
    # a session of its own: a run that overstays is killed with every process it started (torchrun's ranks)
    return subprocess.Popen(command, env=environment(**env), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def torchrun(ranks: int, *args: str) -> subprocess.Popen:
    """pe-bench under torchrun: the agent hosts the rendezvous store, on 127.0.0.1 only."""
    return launch([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(ranks),
                   "--master-addr", "127.0.0.1", "--master-port", str(free_port()), "-m", "pe_bench", *args])


def by_hand(ranks: int, *args: str) -> list[subprocess.Popen]:
    """The ranks started with the environment torchrun sets and no agent: rank 0 hosts the store (env://)."""
    port = str(free_port())
    return [launch([sys.executable, "-m", "pe_bench", *args], RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE=str(ranks),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=port) for r in range(ranks)]


def finished(process: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"no result within {TIMEOUT_S} s: {err[-2000:]}")
    return process.returncode, out, err


def one_process(encodings: tuple[str, ...], corpus: Path, out: Path) -> None:
    """The same run in this process, on 1 thread as each rank has."""
    threads = torch.get_num_threads()
    try:
        run_plan = plan(encodings, ("extrapolation",), "tiny", make_runtime("cpu", threads=1), out,
                        overrides={"steps": STEPS, "eval_lens": EVAL_LENS, "corpus": corpus})
        execute(run_plan)
    finally:
        torch.set_num_threads(threads)


def small_corpus(path: Path) -> Path:
    """30 KB of code-like text, the same every time: reading the default corpus costs each rank a second."""
    rng = random.Random(0)
    words = "def return self import class for while if else value index data result item list key".split()
    path.write_text("\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(3, 9))) for _ in range(700)))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[Path, int, str, str]]:
    """2 ranks with DDP (torchrun), 2 ranks sweeping 3 encodings (by hand), and one process, side by side."""
    root = tmp_path_factory.mktemp("distributed")
    corpus = small_corpus(root / "corpus.txt")
    run = [*RUN, "--corpus", str(corpus)]
    ddp = torchrun(2, *run, "--encodings", "alibi,sinusoidal", "--out", str(root / "ddp"))
    sweep = by_hand(2, *run, "--encodings", "alibi,sinusoidal,nope,rope", "--distribute", "sweep",
                    "--out", str(root / "sweep"))
    one_process(("alibi", "sinusoidal", "nope", "rope"), corpus, root / "one")
    results = {"one": (root / "one", 0, "", ""), "ddp": (root / "ddp", *finished(ddp))}
    for rank, process in enumerate(sweep):
        results[f"sweep rank {rank}"] = (root / "sweep", *finished(process))
    results["sweep"] = results["sweep rank 0"]
    return results


def table(run: tuple, name: str) -> pd.DataFrame:
    return pd.read_csv(run[0] / f"{name}.csv")


def assert_same_numbers(one: pd.DataFrame, other: pd.DataFrame, key: list[str], column: str) -> None:
    if "metric" in key:  # perplexities: a time per token is no number to compare
        one, other = one[one["metric"] == "ppl"], other[other["metric"] == "ppl"]
    merged = one.merge(other, on=key, suffixes=("_one", "_other"))
    assert len(merged) == len(other) > 0
    both = merged.dropna(subset=[f"{column}_one", f"{column}_other"])
    relative = ((both[f"{column}_one"] - both[f"{column}_other"]).abs() / both[f"{column}_one"].abs()).max()
    assert relative <= TOLERANCE, f"{column} differs by {relative:.3g} relative"


@pytest.mark.parametrize("name", ["ddp", "sweep rank 0", "sweep rank 1"])
def test_every_launch_succeeds(runs, name):
    _, code, out, err = runs[name]
    assert code == 0, err[-3000:]


def test_two_ddp_ranks_give_the_numbers_of_one_process(runs):
    one, ddp = runs["one"], runs["ddp"]
    lm = table(ddp, "extrapolation")
    assert set(lm["encoding"]) == {"alibi", "sinusoidal"}
    assert_same_numbers(table(one, "extrapolation"), lm, KEY, "value")
    assert_same_numbers(table(one, "training"), table(ddp, "training"), ["encoding", "step"], "loss")


def test_rank_zero_alone_writes_and_prints(runs):
    folder, _, out, _ = runs["ddp"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [".pe-bench", ".pe-bench.lock", "checkpoints", "differences.csv", "extrapolation.csv", "manifest.json", "summary.csv",
         "summary.html", "summary.md", "training.csv"])
    assert len(list((folder / "checkpoints").iterdir())) == 2  # one per encoding, no temporary left
    (entry,) = json.loads((folder / "manifest.json").read_text())["runs"]
    assert (entry["world_size"], entry["backend"], entry["distribute"], entry["status"]) == (2, "gloo", "ddp",
                                                                                            "completed")
    assert out.count("pe-bench 0.") == 1 and "rank 0 of 2" in out  # the header once: rank 1 prints nothing
    assert out.count("wrote ") == 1
    rows = table(runs["ddp"], "training")
    assert not rows.duplicated(["encoding", "step"]).any()


def test_a_sweep_deals_the_jobs_out_and_rank_zero_writes_every_row(runs):
    sweep = runs["sweep"]
    lm = table(sweep, "extrapolation")
    # rank 0: alibi, nope; rank 1: sinusoidal, rope; then RoPE's six scalings, dealt over both (tests/test_ranks.py)
    assert set(lm["encoding"]) == {"alibi", "sinusoidal", "nope", "rope"}
    assert set(lm["variant"]) == {"alibi", "sinusoidal", "nope", "rope", *ROPE_SCALING}
    assert not lm.duplicated(KEY + ["encoding"]).any()
    assert_same_numbers(table(runs["one"], "extrapolation"), lm, KEY, "value")
    (entry,) = json.loads((sweep[0] / "manifest.json").read_text())["runs"]
    assert (entry["world_size"], entry["distribute"]) == (2, "sweep")
    assert not (sweep[0] / "pending").exists()  # rank 1 kept its rows there until rank 0 had written them


@pytest.mark.parametrize("rank", [0, 1])
def test_bad_input_stops_every_rank_and_rank_zero_says_why(rank, tmp_path, monkeypatch):
    """Every rank finds the same bad input before the process group exists: each exits 2, rank 0 alone says why."""
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for name, value in dict(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                            MASTER_PORT=str(free_port())).items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, [*RUN, "--encodings", "rope", "--device", "cuda", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    said = result.stderr.strip().splitlines()
    assert said == (["Error: --device cuda is not available on this machine; available: cpu"] if rank == 0 else [])
    assert not (tmp_path / "o").exists()


def test_a_batch_the_ranks_cannot_split_is_bad_input(tmp_path):
    settings = EXTRAPOLATION.settings("tiny")  # a global batch of 8
    three = replace(make_runtime("cpu"), world=World(rank=0, world_size=3, backend="gloo"))
    with pytest.raises(InputError, match="batch of 8 sequences cannot be split evenly over 3 ranks"):
        EXTRAPOLATION.check(("rope",), settings, tmp_path, three)
    four = replace(three, world=World(rank=0, world_size=4, backend="gloo"))
    EXTRAPOLATION.check(("rope",), settings, tmp_path, four)
    sweep = replace(three, world=World(rank=0, world_size=3, backend="gloo", distribute="sweep"))
    EXTRAPOLATION.check(("rope",), settings, tmp_path, sweep)  # a sweep does not split batches


def test_each_rank_takes_its_slice_of_the_global_batch():
    batch = torch.arange(8)[:, None].expand(8, 3)
    assert torch.equal(shard(batch, World(rank=1, world_size=2, backend="gloo")), batch[4:])
    assert torch.equal(shard(batch, World(rank=0, world_size=4, backend="gloo")), batch[:2])
    assert shard(batch, World()) is batch
    with pytest.raises(InputError, match="over 3 ranks"):
        shard(batch, World(rank=0, world_size=3, backend="gloo"))


def test_without_a_launcher_the_world_is_one_process():
    world, device = distributed.start(torch.device("cpu"), environ={})
    assert (world, device) == (World(), torch.device("cpu"))
    assert not world.active and world.is_main and world.saves_checkpoints
    assert world.broadcast(3) == 3 and world.gather([1]) == [[1]] and world.first_problem("x") == "x"
    assert world.mean(torch.tensor(2.5)) == 2.5
    world.sync()  # nothing to wait for
    with pytest.raises(InputError, match="unknown --distribute 'bulk'; valid: ddp, sweep"):
        distributed.start(torch.device("cpu"), "bulk", environ={})


def test_a_device_no_backend_trains_on_is_refused():
    with pytest.raises(InputError, match="no distributed backend trains on mps"):
        distributed.backend_for(torch.device("mps"))
    assert distributed.backend_for(torch.device("cpu")) == "gloo"


def test_a_rendezvous_that_cannot_be_reached_is_one_line_within_the_timeout(monkeypatch):
    port = str(free_port())  # nothing listens there
    launch = dict(RANK="1", WORLD_SIZE="2", LOCAL_RANK="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    for name, value in launch.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InputError, match=f"rank 1 cannot reach the rendezvous at 127.0.0.1:{port} within 1 s") as e:
        distributed.start(torch.device("cpu"), environ=launch, rendezvous_timeout_s=1)
    assert "\n" not in str(e.value)


def test_the_launcher_ends_bad_input_with_exit_2_and_one_line_no_traceback(tmp_path):
    """pe_bench.launch is torchrun without its ChildFailedError traceback: a scheduler sees 2, the user one line."""
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    run = launch([sys.executable, "-m", "pe_bench.launch", "--nnodes", "1", "--nproc-per-node", "2",
                  "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
                  *RUN, "--encodings", "rope", "--device", "cuda", "--out", str(tmp_path / "o")])
    try:
        out, err = run.communicate(timeout=TIMEOUT_S)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 2, err
    assert "Traceback" not in err and "ChildFailedError" not in err
    assert "Error: --device cuda is not available on this machine; available: cpu" in err
    assert not (tmp_path / "o").exists()


def test_the_launcher_splits_its_options_from_the_command():
    from pe_bench.launch import failure_code, split

    assert split(["--nproc-per-node", "2", "compare", "--suite", "run"]) == (["--nproc-per-node", "2"],
                                                                             ["compare", "--suite", "run"])
    assert failure_code([1, 2]) == 2 and failure_code([-15]) == 143 and failure_code([1]) == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_launcher_ends_a_signal_to_its_agent_with_128_plus_n_and_no_traceback(monkeypatch, sig):
    """Ctrl-C under --jobs reached the agent as torch's SignalException, which printed a traceback."""
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException

    from pe_bench import launch

    def interrupted(args):
        raise SignalException(f"Process 1 got signal: {sig}", sigval=sig)
    monkeypatch.setattr(torchrun, "run", interrupted)
    assert launch.main(["--nproc-per-node", "2", "compare", "--preset", "tiny"]) == 128 + sig
