"""``--jobs N``: the command again as N local ranks of a sweep (pe_bench/jobs.py).

The end-to-end run starts 2 gloo ranks on 127.0.0.1 through the elastic launcher, bounded in
time; it asserts what the user gets (every encoding's rows, the typed command recorded, a
timing suite run with every thread), never a timing. Bad input under ``--jobs`` goes through
the launcher's own path (one line, exit 2: tests/test_distributed.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

from pe_bench import jobs
from pe_bench.errors import InputError
from pe_bench.distributed import World
from pe_bench.runtime import make_runtime

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 360  # 19 s alone; 78 s measured beside another test worker on 2 cores


@pytest.mark.parametrize("args, expected", [
    (dict(jobs=0), "--jobs must be an integer >= 1"),
    (dict(jobs=3), "--jobs 3 needs a thread per process: at most 2"),
    (dict(jobs=2, threads=1), "at most 1 (--threads)"),
    (dict(jobs=2, distribute="ddp"), "leave --distribute ddp out"),
    (dict(jobs=2, launched=True), "under torchrun"),
    (dict(jobs=2, device="cuda"), "with --device cuda, leave --jobs out"),
])
def test_what_jobs_cannot_honour_is_one_line(args, expected):
    given = dict(threads=None, distribute=None, device="cpu", launched=False, cores=2) | args
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        jobs.check(given.pop("jobs"), **given)


def test_each_process_gets_its_share_of_the_threads():
    assert jobs.check(2, None, None, "cpu", False, cores=8) == 4
    assert jobs.check(3, 8, None, "auto", False, cores=8) == 2


def test_the_ranks_get_their_own_threads_and_no_jobs():
    argv = ["compare", "--jobs", "2", "--threads=2", "--preset", "tiny", "--threads", "2"]
    assert jobs.without(jobs.without(argv, "--jobs"), "--threads") == ["compare", "--preset", "tiny"]


def test_a_suite_run_alone_gets_every_thread_and_gives_them_back():
    before = torch.get_num_threads()
    runtime = replace(make_runtime("cpu", threads=1), world=World(rank=0, world_size=2, backend="gloo"))
    try:
        solo = jobs.suite_runtime(False, runtime, {jobs.SOLO_THREADS: "2"})
        assert solo.threads == 2
        assert jobs.suite_runtime(True, runtime, {jobs.SOLO_THREADS: "2"}) is runtime  # a training suite: its share
        assert jobs.suite_runtime(False, runtime, {}) is runtime  # not under --jobs
        with jobs.solo_threads(solo):
            assert torch.get_num_threads() == 2
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="--jobs 2 needs two cores")
def test_jobs_2_trains_every_encoding_and_records_the_command_typed(tmp_path):
    out = tmp_path / "results"
    command = [sys.executable, "-m", "pe_bench", "compare", "--preset", "tiny", "--suite", "speed,kvcache,tasks",
               "--encodings", "rope,nope,alibi", "--tasks", "copy", "--seq-lens", "16", "--backends", "eager",
               "--threads", "2", "--jobs", "2", "--no-plots", "--out", str(out)]  # two cores of however many there are
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads((out / "manifest.json").read_text())["runs"][-1]
    assert (run["world_size"], run["distribute"], run["threads"]) == (2, "sweep", 1)
    assert run["command"].endswith("--jobs 2 --no-plots --out " + str(out))
    tasks = (out / "tasks.csv").read_text().splitlines()
    assert {line.split(",")[0] for line in tasks[1:]} == {"rope", "nope", "alibi"}  # both ranks' jobs
    speed = (out / "speed.csv").read_text().splitlines()
    threads = speed[0].split(",").index("threads")
    assert {line.split(",")[threads] for line in speed[1:]} == {"2"}  # the timing suite ran with every thread
    assert "on cpu (" in (out / "summary.md").read_text() and "2 ranks of 1 thread, " in (out / "summary.md").read_text()
    summary = pd.read_csv(out / "summary.csv").set_index("encoding")  # this run's rows, the timing suites' too
    assert summary.loc["rope", ["decode_ms", "copy_4L"]].notna().all()
