"""A results folder from a fresh git clone (no ``.pe-bench`` marker: ``.gitignore`` drops it) is
recognised as pe-bench's by what its files hold, and a corrupt manifest in it is reported as
corrupt, not as "files pe-bench did not write" (issue 26, item 6)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pe_bench.errors import InputError
from pe_bench.results import manifest
from pe_bench.results.claims import COLUMNS as CLAIM_COLUMNS
from pe_bench.results.folder import MARKER, check_writable_folder, claim, is_owned
from pe_bench.results.tables import upsert
from pe_bench.suites.speed import SPEED

REPOSITORY = Path(__file__).resolve().parents[2]
CORRUPT = '{"runs": [{"pe_bench_version": "0.1.0",'  # cut off: a merge or an interrupted copy


def _results_folder(folder: Path) -> None:
    """What a run leaves: a table, the summary, the claims, the manifest, figures, checkpoints, the marker."""
    claim(folder)
    upsert(folder, SPEED, [SPEED.row(encoding="nope", backend="sdpa", mode="inference", seq_len=16, batch_size=2,
                                     preset="tiny", ms_median=1.0, device="cpu", dtype="float32", threads=2,
                                     torch_version="2")])
    (folder / "summary.csv").write_text("encoding,family,infer_x_nope\nnope,none,1.0\n")
    (folder / "differences.csv").write_text(",".join(CLAIM_COLUMNS) + "\n")
    (folder / "summary.md").write_text("# pe-bench results\n\nMade by `pe-bench run`.\n")
    (folder / "manifest.json").write_text(json.dumps({"runs": [{"pe_bench_version": "0.1.0"}]}))
    (folder / "plots").mkdir()
    (folder / "plots" / "speed_ratio.png").write_bytes(b"\x89PNG\r\n\x1a\n")


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """``results/run`` as a fresh clone of a repository that committed it with the project's .gitignore."""
    origin = tmp_path / "origin"
    (origin / "results" / "run").mkdir(parents=True)
    shutil.copy(REPOSITORY / ".gitignore", origin / ".gitignore")
    _results_folder(origin / "results" / "run")
    assert (origin / "results" / "run" / MARKER).is_file()
    _git("init", "-q", cwd=origin)
    _git("add", "-A", cwd=origin)
    _git("commit", "-qm", "results", cwd=origin)
    _git("clone", "-q", str(origin), str(tmp_path / "clone"), cwd=tmp_path)
    folder = tmp_path / "clone" / "results" / "run"
    assert not (folder / MARKER).exists() and (folder / "speed.csv").is_file()  # git dropped the marker
    (folder / "checkpoints").mkdir()  # a run's checkpoints (also ignored by git), made since
    (folder / "pending").mkdir()  # and the rows a sweep's rank 1 kept when that run was cut off
    (folder / "pending" / "extrapolation-phase0-rank1.json").write_text("[]")
    return folder


def test_a_fresh_clone_with_a_corrupt_manifest_is_pe_benchs_and_the_manifest_is_said_to_be_corrupt(clone):
    (clone / "manifest.json").write_text(CORRUPT)
    assert is_owned(clone)
    check_writable_folder(clone)  # no "holds files pe-bench did not write"
    notice = manifest.check(clone)  # what the run says next, before any work
    assert notice is not None and "is not a readable manifest (it is not JSON" in notice
    assert not (clone / "manifest.json").exists() and list(clone.glob("manifest.json.corrupt-*"))
    check_writable_folder(clone)  # and after the move, still pe-bench's (the corrupt copy is its own)


def test_a_users_file_in_a_cloned_folder_is_named_alone_with_what_is_wrong_with_the_manifest(clone):
    (clone / "manifest.json").write_text(CORRUPT)
    (clone / "notes.txt").write_text("mine\n")
    with pytest.raises(InputError) as error:
        check_writable_folder(clone)
    message = str(error.value)
    assert "holds files pe-bench did not write (notes.txt)" in message  # not its tables, plots/ or checkpoints/
    assert "its manifest.json is not a pe-bench manifest (it is not JSON" in message


def test_a_file_only_named_like_pe_benchs_is_not_taken_for_it(clone):
    (clone / "manifest.json").write_text(CORRUPT)
    (clone / "summary.md").write_text("# my notes\n")  # the user's own summary, next to pe-bench's tables
    with pytest.raises(InputError, match=r"did not write \(summary\.md\)"):
        check_writable_folder(clone)


def test_a_users_folder_with_pe_benchs_names_but_none_of_its_content_is_refused(tmp_path):
    (tmp_path / "manifest.json").write_text('{"name": "my app"}\n')
    (tmp_path / "plots").mkdir()
    (tmp_path / "speed.csv").write_text("when,what\n1,2\n")  # a CSV of the user's that shares a name
    with pytest.raises(InputError) as error:
        check_writable_folder(tmp_path)
    assert "did not write (manifest.json, plots, speed.csv)" in str(error.value)
    assert not is_owned(tmp_path)


def test_a_cloned_results_folder_holding_results_folders_is_pe_benchs(clone):
    (clone / "manifest.json").write_text(CORRUPT)
    inner = clone / "quick"
    inner.mkdir()
    for name in ("speed.csv", "summary.md"):
        shutil.copy(clone / name, inner / name)  # results/ holds results/quick, also without a marker
    check_writable_folder(clone)
    (inner / "mine.txt").write_text("x")  # a subfolder that is not wholly pe-bench's is the user's
    with pytest.raises(InputError, match=r"did not write \(quick\)"):
        check_writable_folder(clone)


def test_a_plots_folder_holding_more_than_figures_is_the_users(clone):
    (clone / "manifest.json").write_text(CORRUPT)
    (clone / "plots" / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(InputError, match=r"did not write \(plots\)"):
        check_writable_folder(clone)
