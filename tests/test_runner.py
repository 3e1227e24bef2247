"""Running suites through `pe-bench run` / `compare`: files, replacement, bad input. No timings asserted."""

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pe_bench.cli import app

runner = CliRunner()
FAST = ["--preset", "tiny", "--seq-lens", "16", "--backends", "sdpa", "--modes", "inference"]


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_run_writes_the_speed_table_with_nope_alongside(tmp_path: Path):
    result = invoke("run", "--encoding", "alibi", "--suite", "speed", *FAST, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    df = pd.read_csv(tmp_path / "speed.csv")
    assert sorted(df["encoding"]) == ["alibi", "nope"]
    assert "speed at T = 16" in result.output


def test_second_run_replaces_rows_instead_of_duplicating(tmp_path: Path):
    for _ in range(2):
        assert invoke("compare", "--encodings", "rope,t5", "--suite", "speed", *FAST, "--out", str(tmp_path)).exit_code == 0
    df = pd.read_csv(tmp_path / "speed.csv")
    assert len(df) == 3 and sorted(df["encoding"]) == ["nope", "rope", "t5"]
    # a different length adds rows, it does not replace the first ones
    args = ["compare", "--encodings", "rope", "--suite", "speed", "--preset", "tiny", "--seq-lens", "24",
            "--backends", "sdpa", "--modes", "inference", "--out", str(tmp_path)]
    assert invoke(*args).exit_code == 0
    assert len(pd.read_csv(tmp_path / "speed.csv")) == 5


@pytest.mark.parametrize("args,message", [
    (["--seq-lens", "0"], "--seq-lens must be integers >= 1"),
    (["--seq-lens", "-8"], "--seq-lens must be integers >= 1"),
    (["--seq-lens", "1.5"], "--seq-lens must be integers"),
    (["--seq-lens", "abc"], "--seq-lens must be integers"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--backends", "triton"], "unknown backend 'triton'"),
    (["--modes", "serve"], "unknown mode 'serve'"),
    (["--preset", "huge"], "unknown preset 'huge'"),
    (["--dtype", "float8"], "unknown dtype 'float8'"),
    (["--device", "cuda"], "--device cuda is not available"),
    (["--suite", "latency"], "unknown suite 'latency'"),
    (["--encodings", "no-such"], "unknown encoding 'no-such'"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, args, message):
    if "cuda" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    out = tmp_path / "out"
    result = invoke("compare", "--suite", "speed", "--preset", "tiny", *args, "--out", str(out))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not out.exists()


def test_out_naming_a_file_is_refused_and_the_file_kept(tmp_path: Path):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    result = invoke("compare", "--suite", "speed", *FAST, "--out", str(target))
    assert result.exit_code == 2 and "is an existing file" in result.output
    assert target.read_text() == "keep me"


def test_garbage_table_is_refused_before_any_work_and_left_untouched(tmp_path: Path):
    from pe_bench.results.folder import claim

    claim(tmp_path)  # a pe-bench folder whose table someone damaged
    table = tmp_path / "speed.csv"
    table.write_text("a,b\n1,2\n")
    result = invoke("compare", "--suite", "speed", *FAST, "--out", str(tmp_path))
    assert result.exit_code == 2 and "is not a speed table" in result.output
    assert table.read_text() == "a,b\n1,2\n"


def test_option_of_a_suite_not_chosen_is_refused(tmp_path: Path):
    from pe_bench.runner import plan
    from pe_bench.runtime import make_runtime
    from pe_bench.errors import InputError

    with pytest.raises(InputError, match="--seq-lens applies to the speed suite"):
        plan(("rope",), (), "tiny", make_runtime("cpu"), tmp_path, overrides={"seq_lens": (8,)})
