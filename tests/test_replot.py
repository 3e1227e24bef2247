"""``pe-bench plot`` rewrites summary.md and summary.html from the saved tables, with the figures it drew."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import pe_bench
from pe_bench.cli import app
from pe_bench.replot import plot_results
from pe_bench.results.folder import locked

PAGES = ("summary.md", "summary.html")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny speed run's folder, as the run left it (copied by each test that changes it)."""
    out = tmp_path_factory.mktemp("made") / "results"
    pe_bench.run("rope", "speed", "tiny", device="cpu", out=out, backends=("sdpa",), seq_lens=(32,),
                 modes=("inference",))
    return out


@pytest.fixture
def folder(made: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(made, tmp_path / "results"))


def embedded(page: str, name: str) -> bytes:
    """The bytes of the figure ``name`` embedded in summary.html."""
    found = re.search(rf'<img alt="{name}" src="data:image/png;base64,([^"]+)"', page)
    assert found, f"{name} is not embedded"
    return base64.b64decode(found.group(1))


def test_the_summary_is_rebuilt_as_the_run_wrote_it(folder: Path):
    """The same code writes it at the end of a run and after plot: from unchanged tables, the same page."""
    written = {name: (folder / name).read_text() for name in PAGES}
    for name in PAGES:
        (folder / name).unlink()
    report = plot_results(folder)
    assert [p.name for p in report.pages] == list(PAGES) and report.note == ""
    assert (folder / "summary.md").read_text() == written["summary.md"]
    page = (folder / "summary.html").read_text()
    assert embedded(page, "speed_ratio") == (folder / "plots" / "speed_ratio.png").read_bytes()


def test_the_page_embeds_the_figures_just_drawn_from_the_changed_tables(folder: Path):
    before = embedded((folder / "summary.html").read_text(), "speed_ratio")
    speed = pd.read_csv(folder / "speed.csv")
    rope = speed["encoding"] == "rope"
    speed.loc[rope, ["ratio_vs_nope", "ratio_ci_low", "ratio_ci_high"]] = [7.25, 7.0, 7.5]
    speed.to_csv(folder / "speed.csv", index=False)
    (folder / "summary.html").unlink()
    plot_results(folder)
    page = (folder / "summary.html").read_text()
    figure = (folder / "plots" / "speed_ratio.png").read_bytes()
    assert embedded(page, "speed_ratio") == figure != before
    # summary.md says the same as the page: the new ratio, and the figure it embeds
    markdown = (folder / "summary.md").read_text()
    assert "7.25x" in markdown and "<td>7.25x" in page
    assert "![speed_ratio](plots/speed_ratio.png)" in markdown


def test_the_command_says_it_rewrote_the_pages(folder: Path):
    (folder / "summary.html").unlink()
    result = CliRunner().invoke(app, ["plot", "--results", str(folder)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "rewrote summary.md and summary.html" in result.output and (folder / "summary.html").is_file()


def test_figures_drawn_elsewhere_leave_the_summary_alone(folder: Path, tmp_path: Path):
    (folder / "summary.html").unlink()
    report = plot_results(folder, out=tmp_path / "figures")
    assert report.drawn and report.pages == [] and not (folder / "summary.html").exists()


def test_a_run_writing_to_the_folder_keeps_the_summary_it_will_write(folder: Path):
    (folder / "summary.html").unlink()
    with locked(folder, "another run"):
        report = plot_results(folder)
    assert report.drawn and report.pages == [] and "a run is writing" in report.note
    assert not (folder / "summary.html").exists()


def test_a_manifest_from_before_the_rows_were_recorded_leaves_the_pages_and_says_why(folder: Path):
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    for run in data["runs"]:
        del run["selects"]
    path.write_text(json.dumps(data))
    markdown = (folder / "summary.md").read_text()
    report = plot_results(folder)
    assert report.pages == [] and "did not record which rows" in report.note
    assert (folder / "summary.md").read_text() == markdown


def test_tables_without_a_manifest_have_no_summary_to_rewrite(folder: Path):
    for name in ("manifest.json", *PAGES):
        (folder / name).unlink()
    report = plot_results(folder)
    assert report.drawn and report.pages == [] and report.note == ""
    assert not (folder / "summary.html").exists()


def test_in_a_folder_of_two_runs_the_summary_shows_the_last_runs_rows(folder: Path):
    pe_bench.run("rope", "speed", "tiny", device="cpu", out=folder, backends=("sdpa",), seq_lens=(32,),
                 modes=("inference",), batch_size=1)  # another setting: its own rows beside the first run's
    written = (folder / "summary.md").read_text()
    (folder / "summary.md").unlink()
    plot_results(folder)
    assert (folder / "summary.md").read_text() == written
