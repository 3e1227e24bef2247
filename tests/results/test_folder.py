"""The results folder pe-bench owns, and one writer at a time."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pe_bench.cli import app
from pe_bench.errors import InputError
from pe_bench.results.folder import LOCK, MARKER, check_writable_folder, claim, is_owned, locked

FAST = ["--preset", "tiny", "--suite", "speed", "--seq-lens", "16", "--backends", "sdpa", "--modes", "inference",
        "--no-plots"]


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_a_folder_with_the_users_own_files_is_refused_before_any_work_and_left_as_it_was(tmp_path):
    (tmp_path / "summary.md").write_text("# my notes\n")
    (tmp_path / "manifest.json").write_text('{"name": "my app"}\n')
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = invoke("compare", "--encodings", "rope", *FAST, "--out", str(tmp_path))
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "holds files pe-bench did not write" in lines[0]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("folder", ["/", str(Path.home())])
def test_the_root_and_the_home_folder_are_refused(folder):
    if is_owned(Path(folder)):
        pytest.skip("this home folder is a pe-bench results folder")
    with pytest.raises(InputError, match="holds files pe-bench did not write"):
        check_writable_folder(Path(folder))


def test_a_new_or_empty_folder_is_claimed_and_a_claimed_one_reused(tmp_path):
    for out in (tmp_path / "new" / "deeper", tmp_path / "empty"):
        if out.name == "empty":
            out.mkdir()
        assert invoke("compare", "--encodings", "rope", *FAST, "--out", str(out)).exit_code == 0
        assert (out / MARKER).is_file() and is_owned(out)
        assert invoke("compare", "--encodings", "rope", *FAST, "--out", str(out)).exit_code == 0


def test_a_folder_with_a_pe_bench_manifest_and_no_marker_is_recognised(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"runs": [{"pe_bench_version": "0.1.0"}]}))
    (tmp_path / "summary.md").write_text("an older run's summary\n")
    check_writable_folder(tmp_path)  # the results/ the repository commits are such folders
    claim(tmp_path)
    assert (tmp_path / MARKER).is_file()


def test_out_under_a_file_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    result = invoke("compare", "--encodings", "rope", *FAST, "--out", str(tmp_path / "file" / "out"))
    assert result.exit_code == 2 and "is a file, not a folder" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_plots_being_a_file_is_found_before_any_work(tmp_path):
    claim(tmp_path)
    (tmp_path / "plots").write_text("not a folder")
    result = invoke("compare", "--encodings", "rope", *FAST[:-1], "--out", str(tmp_path))
    assert result.exit_code == 2 and "plots is not a folder; pe-bench keeps its figures there" in result.output
    assert not (tmp_path / "speed.csv").exists()


def test_an_absurd_length_is_refused_with_the_estimate_before_any_work(tmp_path):
    result = invoke("compare", "--encodings", "rope", "--preset", "tiny", "--suite", "speed", "--seq-lens",
                    "10000000", "--out", str(tmp_path / "o"))
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "GiB" in lines[0] and "T = 10,000,000" in lines[0]
    result = invoke("compare", "--encodings", "rope", "--preset", "tiny", "--suite", "extrapolation",
                    "--eval-lens", "16,200000", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "evaluation at 200,000 tokens" in result.output
    assert not (tmp_path / "o").exists()


def test_more_threads_than_cores_is_refused(tmp_path):
    result = invoke("compare", "--encodings", "rope", *FAST, "--threads", "999", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and f"the {os.cpu_count()} cores" in result.output
    assert not (tmp_path / "o").exists()


def test_the_lock_names_its_holder_and_a_second_writer_waits(tmp_path):
    claim(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from pe_bench.results.folder import locked\n"
        f"with locked(Path({str(tmp_path)!r}), 'pe-bench compare --a-test'):\n"
        "    print('held', flush=True); time.sleep(3)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        messages = []
        start = time.perf_counter()
        with locked(tmp_path, "second", messages.append):
            waited = time.perf_counter() - start
        assert waited > 1.0 and len(messages) == 1
        assert f"pid {holder.pid}" in messages[0] and "pe-bench compare --a-test" in messages[0]
    finally:
        holder.wait(timeout=30)
    assert (tmp_path / LOCK).read_text() == ""  # released, no holder left behind


def test_two_runs_into_one_folder_keep_the_rows_of_both(tmp_path):
    runs = [subprocess.Popen([sys.executable, "-m", "pe_bench", "compare", "--encodings", name, *FAST,
                              "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name in ("rope", "alibi")]
    for run in runs:
        out, err = run.communicate(timeout=240)
        assert run.returncode == 0, err
    speed = pd.read_csv(tmp_path / "speed.csv")
    assert set(speed["encoding"]) == {"nope", "rope", "alibi"}
    assert len(json.loads((tmp_path / "manifest.json").read_text())["runs"]) == 2


def test_a_corrupt_manifest_is_moved_aside_and_the_run_says_where(tmp_path):
    assert invoke("compare", "--encodings", "rope", *FAST, "--out", str(tmp_path)).exit_code == 0
    with open(tmp_path / "manifest.json", "a") as f:
        f.write("x")
    damaged = (tmp_path / "manifest.json").read_bytes()
    result = invoke("compare", "--encodings", "rope", *FAST, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    [aside] = tmp_path.glob("manifest.json.corrupt-*")
    assert aside.read_bytes() == damaged and aside.name in " ".join(result.output.split())
    assert len(json.loads((tmp_path / "manifest.json").read_text())["runs"]) == 1


def test_all_may_stand_among_other_names():
    from pe_bench.encodings import base_encodings, parse_encodings

    assert parse_encodings("all,rope") == base_encodings()
    assert parse_encodings("rope-ntk,all")[0] == "rope-ntk"


def test_the_recorded_command_can_be_rerun_when_a_path_has_spaces(tmp_path):
    out = tmp_path / "my results"
    assert invoke("compare", "--encodings", "rope", *FAST, "--out", str(out)).exit_code == 0
    command = json.loads((out / "manifest.json").read_text())["runs"][-1]["command"]
    assert f"'{out}'" in command
    assert "`pe-bench compare" in (out / "summary.md").read_text() and f"'{out}'" in (out / "summary.md").read_text()


@pytest.mark.parametrize("make,message", [
    (lambda d: (os.symlink(d / "b", d / "a"), os.symlink(d / "a", d / "b")) and d / "a" / "sub",
     "is a symbolic link loop"),
    (lambda d: os.symlink("/nonexistent/x", d / "broken") or d / "broken" / "sub", "is a broken symbolic link"),
    (lambda d: (d / "o" / ".pe-bench.lock").mkdir(parents=True) or d / "o", ".pe-bench.lock is not a regular file"),
    (lambda d: d / ("a" * 300), "ong"),  # "File name too long" or "longer than the ... bytes"
])
def test_odd_output_paths_are_one_line_before_anything_is_written(tmp_path, make, message):
    out = make(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = invoke("compare", "--encodings", "rope", *FAST, "--out", str(out))
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_plots_as_a_symbolic_link_to_the_users_folder_is_refused(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "speed_ratio.png").write_text("MINE")
    out = tmp_path / "out"
    claim(out)
    os.symlink(mine, out / "plots")
    result = invoke("compare", "--encodings", "rope", *FAST[:-1], "--out", str(out))
    assert result.exit_code == 2 and "is a symbolic link" in result.output
    assert (mine / "speed_ratio.png").read_text() == "MINE" and not (out / "speed.csv").exists()


def test_a_plugin_that_fails_during_the_run_is_one_line_naming_it(tmp_path, plugin_registry):
    plugin = tmp_path / "late.py"
    plugin.write_text(
        "from pe_bench.encodings.alibi import ALiBi\n"
        "class Late(ALiBi):\n"
        "    name = 'late'\n"
        "    def attention_bias(self, dtype):\n"
        "        bias = super().attention_bias(dtype)\n"
        "        materialize = bias.materialize\n"
        "        def fails_when_long(q, k):\n"
        "            if len(q) > 20:\n"
        "                raise ValueError('too long for me')\n"
        "            return materialize(q, k)\n"
        "        bias.materialize = fails_when_long\n"
        "        return bias\n")
    args = ["--encodings", f"{plugin}:Late", "--preset", "tiny", "--suite", "speed", "--seq-lens", "16,32",
            "--backends", "sdpa-dense", "--modes", "inference", "--no-plots", "--out", str(tmp_path / "o")]
    result = invoke("compare", *args)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "ValueError: too long for me" in lines[-1] and "pe-bench check late" in lines[-1]


def test_a_built_in_named_by_its_module_path_stays_the_built_in(plugin_registry):
    from pe_bench.encodings import BUILT_IN, resolve

    assert resolve("pe_bench.encodings.rope:RoPE") == "rope" and plugin_registry.ORIGINS["rope"] is BUILT_IN


def test_a_plugin_that_calls_sys_exit_is_a_failed_check_not_a_silent_exit(tmp_path, plugin_registry):
    from pe_bench.check import check_encoding

    plugin = tmp_path / "leaves.py"
    plugin.write_text("from pe_bench.encodings.alibi import ALiBi\n"
                      "class Leaves(ALiBi):\n    name = 'leaves'\n"
                      "    def __init__(self, **kwargs):\n        raise SystemExit(3)\n")
    results = check_encoding(f"{plugin}:Leaves")
    assert not any(r.passed for r in results if r.check == "interface")
    assert any("SystemExit" in r.detail for r in results)
