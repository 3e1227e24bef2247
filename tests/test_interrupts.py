"""SIGTERM and SIGHUP end a run like Ctrl-C: rows kept, no temporary left, manifest "interrupted",
the resume hint, exit 143 / 129 / 130, and no traceback however many signals follow.

The signals are real: each run is a ``python -m pe_bench`` subprocess on the tiny preset,
signalled once its first table row is saved, with a timeout on every wait.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from pe_bench.interrupts import Interrupted, exit_code, ignore_interrupts, terminations_as_interrupts

REPO = Path(__file__).resolve().parents[1]
HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# every encoding, NoPE first: its row is saved after ~3 s, and the others take ~8 s more on 2 cores
SLOW_RUN = ["compare", "--preset", "tiny", "--suite", "extrapolation", "--encodings",
            "nope,sinusoidal,learned,t5,rope,alibi,xpos,fire", "--steps", "120", "--no-plots"]
WAIT_S = 120  # the longest any one wait may take; a run takes a few seconds


@contextmanager
def not_ignored_in_children() -> Iterator[None]:
    """A child inherits an ignored signal (nohup ignores SIGHUP; a shell without job control, SIGINT in
    background jobs): while a run starts, none of the three is ignored here, so none is in the run."""
    changed = {}
    for signum in HANDLED:
        if signal.getsignal(signum) == signal.SIG_IGN:
            changed[signum] = signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                                            else signal.SIG_DFL)
    try:
        yield
    finally:
        for signum, handler in changed.items():
            signal.signal(signum, handler)


def start_run(out: Path) -> subprocess.Popen:
    with not_ignored_in_children():
        return subprocess.Popen([sys.executable, "-m", "pe_bench", *SLOW_RUN, "--out", str(out)], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "COLUMNS": "200"})


def wait_for_first_row(process: subprocess.Popen, out: Path) -> None:
    """Until training.csv (written after the first encoding is trained) exists; fail if the run ends first."""
    deadline = time.monotonic() + WAIT_S
    while not (out / "training.csv").exists():
        if process.poll() is not None:
            pytest.fail(f"the run ended (exit {process.returncode}) before its first row: {process.stderr.read()}")
        if time.monotonic() > deadline:
            pytest.fail("no row saved in time")
        time.sleep(0.02)


def finish(process: subprocess.Popen) -> str:
    """The run's stderr once it has exited (killed, and the test failed, if it does not in time)."""
    try:
        _, stderr = process.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("the run did not exit after the signal")
    return stderr


@pytest.fixture
def run_folder(tmp_path):
    """An output folder; a run still going when the test ends is killed."""
    processes: list[subprocess.Popen] = []
    yield tmp_path / "out", processes.append
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.communicate()


def temporaries(out: Path) -> list[str]:
    return [os.path.join(root, name) for root, _, names in os.walk(out) for name in names if name.endswith(".tmp")]


def assert_ended_cleanly(out: Path, stderr: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: interrupted; the rows finished before it are saved in")
    assert "--resume" in lines[0] and "Traceback" not in stderr
    assert json.loads((out / "manifest.json").read_text())["runs"][-1]["status"] == "interrupted"
    assert temporaries(out) == []
    trained = pd.read_csv(out / "training.csv")
    assert "nope" in set(trained["encoding"])  # the row that was saved before the signal is kept
    assert "fire" not in set(trained["encoding"])  # and the run was indeed cut short
    assert list((out / "checkpoints").glob("nope-*.pt"))


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_end_a_run_like_ctrl_c(run_folder, signum, code):
    out, track = run_folder
    process = start_run(out)
    track(process)
    wait_for_first_row(process, out)
    process.send_signal(signum)
    stderr = finish(process)
    assert process.returncode == code, stderr
    assert_ended_cleanly(out, stderr)


def test_ctrl_c_pressed_again_and_again_never_prints_a_traceback(run_folder):
    """Every 20 ms until the process is gone: during the cleanup, the exit and torch's exit hooks too."""
    out, track = run_folder
    process = start_run(out)
    track(process)
    wait_for_first_row(process, out)
    deadline = time.monotonic() + WAIT_S
    while process.poll() is None and time.monotonic() < deadline:
        try:
            process.send_signal(signal.SIGINT)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    stderr = finish(process)
    assert process.returncode == 130, stderr
    assert_ended_cleanly(out, stderr)


# the context manager itself, in this process


@pytest.fixture
def handlers():
    """Python's usual handlers of the three signals (whatever this process inherited), put back after the test."""
    usual = {signum: signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL for signum in HANDLED}
    saved = {signum: signal.signal(signum, handler) for signum, handler in usual.items()}
    yield usual
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_raises_an_interrupt_carrying_its_exit_code_then_all_three_are_ignored(handlers, signum, code):
    with pytest.raises(Interrupted) as raised:
        with terminations_as_interrupts():
            signal.raise_signal(signum)
            pytest.fail("the signal did not interrupt")
    assert isinstance(raised.value, KeyboardInterrupt)
    assert raised.value.exit_code == code == exit_code(raised.value)
    assert all(signal.getsignal(s) == signal.SIG_IGN for s in HANDLED)
    for other in HANDLED:  # ignored now: the process would be cleaning up
        signal.raise_signal(other)


def test_handlers_come_back_after_a_block_without_a_signal(handlers):
    with terminations_as_interrupts():
        assert all(signal.getsignal(s) not in (handlers[s], signal.SIG_IGN) for s in HANDLED)
    assert {s: signal.getsignal(s) for s in HANDLED} == handlers


def test_handlers_come_back_after_an_interrupt_when_the_caller_goes_on(handlers):
    with pytest.raises(Interrupted):
        with terminations_as_interrupts(ignore_after_interrupt=False):
            signal.raise_signal(signal.SIGTERM)
    assert {s: signal.getsignal(s) for s in HANDLED} == handlers


def test_an_exception_of_the_block_passes_through_and_the_handlers_come_back(handlers):
    with pytest.raises(KeyboardInterrupt) as raised:  # what a mocked Ctrl-C in a test does
        with terminations_as_interrupts():
            raise KeyboardInterrupt
    assert exit_code(raised.value) == 130
    assert {s: signal.getsignal(s) for s in HANDLED} == handlers


def test_an_interrupt_swallowed_inside_the_block_is_raised_when_it_ends(handlers):
    with pytest.raises(Interrupted) as raised:
        with terminations_as_interrupts():
            try:
                signal.raise_signal(signal.SIGTERM)
            except KeyboardInterrupt:
                pass  # as a __del__ or a callback reported as "Exception ignored" would
    assert raised.value.exit_code == 143


def test_a_signal_ignored_from_the_start_stays_ignored(handlers):
    """``nohup`` starts a process with SIGHUP ignored: closing the terminal must not stop the run."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with terminations_as_interrupts():
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
        signal.raise_signal(signal.SIGHUP)
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN


def test_outside_the_main_thread_it_does_nothing(handlers):
    seen = {}

    def worker() -> None:
        with terminations_as_interrupts():
            seen.update({s: signal.getsignal(s) for s in HANDLED})
        ignore_interrupts()  # a no-op there too

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=10)
    assert seen == handlers
    assert {s: signal.getsignal(s) for s in HANDLED} == handlers


def test_ctrl_c_while_the_cli_still_imports_is_one_line_and_exit_130(monkeypatch, capsys):
    """The first seconds go to importing torch: an interrupt there must not print an import traceback."""
    import builtins

    from pe_bench import entry

    real_import = builtins.__import__

    def interrupted_import(name, *args, **kwargs):
        if name == "pe_bench.cli":
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted_import)
    with pytest.raises(SystemExit) as exit_:
        entry.main()
    assert exit_.value.code == 130 and capsys.readouterr().err == "Error: interrupted\n"
