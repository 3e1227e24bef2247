"""`pe-bench compare` / `run` as a whole: report, manifest, resume, interruption. No timings asserted."""

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pe_bench.cli import app
from pe_bench.manifest import git_commit
from pe_bench.results import SPEED, upsert, write_atomic
from pe_bench.summary import summarize

runner = CliRunner()
SPEED_ONLY = ["--suite", "speed", "--preset", "tiny", "--seq-lens", "16,24", "--backends", "sdpa", "--modes",
              "inference", "--no-plots"]


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    """compare on the tiny preset, every suite, trimmed to one backend."""
    out = tmp_path_factory.mktemp("compare")
    result = invoke("compare", "--preset", "tiny", "--backends", "sdpa", "--modes", "inference",
                    "--no-plots", "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_compare_writes_every_table_the_summary_and_the_manifest(full_run):
    for name in ("speed", "kvcache", "shift", "precision", "extrapolation", "training", "summary"):
        assert (full_run / f"{name}.csv").stat().st_size > 0
    summary = pd.read_csv(full_run / "summary.csv")
    assert list(summary["encoding"]) == ["nope", "sinusoidal", "learned", "t5", "rope", "alibi"]
    rope = summary.set_index("encoding").loc["rope"]
    assert rope["infer_backend"] == "sdpa" and rope["ppl_L"] > 1 and rope["best_rope_scaling"].startswith("rope-")
    assert (summary["cache_max_diff"] <= 1e-4).all()
    text = (full_run / "summary.md").read_text()
    assert "pe-bench compare --preset tiny" in text and "| encoding |" in text and "perplexity" in text


def test_manifest_records_the_run(full_run):
    runs = json.loads((full_run / "manifest.json").read_text())["runs"]
    run = runs[-1]
    assert run["status"] == "completed" and run["ended_at"] >= run["started_at"]
    assert run["command"].startswith("pe-bench compare --preset tiny")
    for field in ("pe_bench_version", "git_commit", "torch_version", "device", "threads", "dtype", "preset", "seed"):
        assert field in run
    assert set(run["suites"]) == {"speed", "kvcache", "extrapolation"}
    assert run["suites"]["speed"]["seq_lens"] == [32, 64]
    assert run["corpus"]["checksum"] and run["corpus"]["files"] > 100
    assert set(run["suite_seconds"]) == {"speed", "kvcache", "extrapolation"}


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_commit_is_dirty_only_when_the_package_source_changed(tmp_path):
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "pkg").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "pkg" / "code.py").write_text("x = 1\n")
    (tmp_path / "results" / "speed.csv").write_text("a\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "start")
    (tmp_path / "results" / "speed.csv").write_text("b\n")  # a run rewrote its results
    clean = git_commit(tmp_path / "pkg")
    assert clean is not None and len(clean) == 40
    (tmp_path / "pkg" / "code.py").write_text("x = 2\n")
    assert git_commit(tmp_path / "pkg") == clean + "-dirty"


def test_run_does_the_same_for_one_encoding_with_nope_alongside(tmp_path):
    result = invoke("run", "--encoding", "alibi", *SPEED_ONLY, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["encoding"]) == ["nope", "alibi"]
    assert "summary: one row per encoding" in result.output


def test_resume_does_not_redo_finished_rows(tmp_path, monkeypatch):
    assert invoke("compare", "--encodings", "rope", *SPEED_ONLY, "--out", str(tmp_path)).exit_code == 0
    before = (tmp_path / "speed.csv").read_text()

    def measure(*args, **kwargs):
        raise AssertionError("--resume measured a group that was already saved")

    monkeypatch.setattr("pe_bench.suites.speed._measure_group", measure)
    result = invoke("compare", "--encodings", "rope", *SPEED_ONLY, "--out", str(tmp_path), "--resume")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "speed.csv").read_text() == before
    # a group that is missing is measured
    monkeypatch.undo()
    result = invoke("compare", "--encodings", "rope", *SPEED_ONLY[:5], "16,24,32", *SPEED_ONLY[6:],
                    "--out", str(tmp_path), "--resume")
    assert result.exit_code == 0
    assert sorted(pd.read_csv(tmp_path / "speed.csv")["seq_len"].unique()) == [16, 24, 32]


def test_interrupt_keeps_finished_rows_and_says_so(tmp_path, monkeypatch):
    from pe_bench.suites import speed

    real = speed._measure_group
    calls = []

    def interrupted_second_time(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(speed, "_measure_group", interrupted_second_time)
    result = invoke("compare", "--encodings", "rope", *SPEED_ONLY, "--out", str(tmp_path))
    assert result.exit_code == 130
    assert "interrupted" in result.output and "--resume" in result.output
    saved = pd.read_csv(tmp_path / "speed.csv")
    assert list(saved["seq_len"].unique()) == [16]  # the first group, complete
    assert json.loads((tmp_path / "manifest.json").read_text())["runs"][-1]["status"] == "interrupted"
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_interrupted_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "speed.csv"
    path.write_text("old contents\n")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("pe_bench.results.os.replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, "new contents\n")
    assert path.read_text() == "old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["speed.csv"]


def test_upsert_replaces_by_key(tmp_path):
    row = {c: 0 for c in SPEED.columns} | {"encoding": "rope", "backend": "sdpa", "mode": "inference",
                                          "seq_len": 16, "ms_median": 1.0, "supported": True}
    upsert(tmp_path, SPEED, [row])
    upsert(tmp_path, SPEED, [row | {"ms_median": 2.0}, row | {"seq_len": 32}])
    df = pd.read_csv(tmp_path / "speed.csv")
    assert len(df) == 2 and df.set_index("seq_len").loc[16, "ms_median"] == 2.0


@pytest.mark.parametrize("args,message", [
    (["--encodings", "rope,xpos"], "unknown encoding 'xpos'"),
    (["--suite", "speed,latency"], "unknown suite 'latency'"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, message):
    result = invoke("compare", *args, "--preset", "tiny", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_summary_picks_the_fastest_backend_and_its_ratio():
    speed = pd.DataFrame([
        {"encoding": e, "backend": b, "mode": "inference", "seq_len": 512, "ms_median": ms, "ratio_vs_nope": r,
         "supported": True, "preset": "quick", "device": "cpu", "dtype": "float32"}
        for e, b, ms, r in (("t5", "sdpa", 12.0, 1.2), ("t5", "flex", 10.5, 1.05), ("nope", "sdpa", 10.0, 1.0),
                            ("nope", "flex", 10.0, 1.0))
    ])
    summary = summarize({"speed": speed}, ["nope", "t5"]).set_index("encoding")
    assert summary.loc["t5", "infer_backend"] == "flex" and summary.loc["t5", "infer_x_nope"] == 1.05


def test_upsert_handles_empty_key_cells(tmp_path):
    """pandas 3 keeps NaN through astype(str); keys with an empty cell must still match."""
    from pe_bench.results import SHIFT

    row = {c: None for c in SHIFT.columns} | {"encoding": "rope", "offset": 1, "max_abs_logit_diff": 0.0}
    upsert(tmp_path, SHIFT, [row])
    upsert(tmp_path, SHIFT, [row | {"max_abs_logit_diff": 1.0}])
    df = pd.read_csv(tmp_path / "shift.csv")
    assert len(df) == 1 and df["max_abs_logit_diff"].iloc[0] == 1.0


def test_written_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    path = tmp_path / "x.csv"
    write_atomic(path, "a\n")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_markdown_tables_escape_pipes():
    from pe_bench.summary import markdown_table

    table = markdown_table(["encoding", "max |diff|"], [["rope", "a|b"]])
    assert table.splitlines()[0] == "| encoding | max \\|diff\\| |"
    assert all(line.count("|") - line.count("\\|") == 3 for line in table.splitlines())


def test_interleaved_rounds_rotate_who_goes_first():
    from pe_bench.timing import interleaved

    assert list(interleaved(["a", "b", "c"], 3)) == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]


def test_figures_of_a_run_show_its_own_rows_in_a_folder_shared_with_another_preset(tmp_path, monkeypatch):
    from pe_bench import plots

    speed_args = [a for a in SPEED_ONLY if a != "--no-plots"]
    assert invoke("compare", *SPEED_ONLY, "--out", str(tmp_path)).exit_code == 0
    saved = pd.read_csv(tmp_path / "speed.csv")
    other = pd.concat([saved.assign(preset="standard", seq_len=saved["seq_len"] * k) for k in (2, 3, 4)])
    pd.concat([saved, other]).to_csv(tmp_path / "speed.csv", index=False)  # the other preset has more rows
    drawn_from = {}
    real_draw = plots.draw_figures

    def spy(tables, *args, **kwargs):  # noqa: ANN001, ANN202
        drawn_from.update(tables)
        return real_draw(tables, *args, **kwargs)

    monkeypatch.setattr(plots, "draw_figures", spy)
    result = invoke("compare", *speed_args, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert set(drawn_from["speed"]["preset"]) == {"tiny"}
    assert (tmp_path / "plots" / "speed_ratio.png").stat().st_size > 0
    assert len(pd.read_csv(tmp_path / "speed.csv")) == len(saved) + len(other)  # the other rows are kept
