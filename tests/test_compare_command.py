"""`pe-bench compare` / `run` as a whole: report, manifest, resume, interruption. No timings asserted."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pe_bench.cli import app

from pe_bench.suites import SUITES, all_schemas

from conftest import BASE_ENCODINGS

runner = CliRunner()
SPEED_ONLY = ["--suite", "speed", "--preset", "tiny", "--seq-lens", "16,24", "--backends", "sdpa", "--modes",
              "inference", "--no-plots"]


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    """compare on the tiny preset, every suite, trimmed to one backend, one task and two lengths (L and 8L)."""
    out = tmp_path_factory.mktemp("compare")
    result = invoke("compare", "--preset", "tiny", "--backends", "sdpa", "--modes", "inference",
                    "--tasks", "copy", "--eval-lens", "16,128", "--no-plots", "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_compare_writes_every_table_the_summary_and_the_manifest(full_run):
    for name in (*all_schemas(), "summary"):
        assert (full_run / f"{name}.csv").stat().st_size > 0
    summary = pd.read_csv(full_run / "summary.csv")
    assert list(summary["encoding"]) == ["nope", *(n for n in BASE_ENCODINGS if n != "nope")]
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
    assert set(run["suites"]) == set(SUITES)
    assert run["suites"]["speed"]["seq_lens"] == [32, 64]
    assert run["corpus"]["checksum"] and run["corpus"]["files"] > 100
    assert set(run["suite_seconds"]) == set(SUITES)


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

    monkeypatch.setattr("pe_bench.suites.speed.measure._measure_group", measure)
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
    from pe_bench.suites.speed import measure as speed

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


@pytest.mark.parametrize("args,message", [
    (["--encodings", "rope,no-such"], "unknown encoding 'no-such'"),
    (["--suite", "speed,latency"], "unknown suite 'latency'"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, message):
    result = invoke("compare", *args, "--preset", "tiny", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_figures_of_a_run_show_its_own_rows_in_a_folder_shared_with_another_preset(tmp_path, monkeypatch):
    from pe_bench import runner as plots

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


def test_a_log_shows_each_suite_table_once(tmp_path):
    """Not a terminal: each suite's table is printed as the suite ends, and not again with the summary."""
    result = invoke("compare", "--encodings", "rope", *SPEED_ONLY, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.output.count("speed at T = 24") == 1 and result.output.count("summary: one row per encoding") == 1
