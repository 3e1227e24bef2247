"""manifest.json: the git commit a run was made at, and when it counts as dirty; a manifest that does not
parse is moved aside, never replaced; one that is not a regular file is an error; the command is shell-quoted.

The tests run as root, for whom chmod does not stop a read: an unreadable manifest is simulated
by making ``os.open`` raise PermissionError for its path.
"""

import errno
import json
import os
import shutil
import subprocess

import shlex
from pathlib import Path
import pytest

from pe_bench.errors import InputError
from pe_bench.results import manifest
from pe_bench.results.manifest import git_commit

from file_faults import deadline


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


def test_by_default_the_whole_package_counts_not_only_the_folder_that_writes_the_manifest():
    """A run with a changed recipe (pe_bench/suites/...) recorded its commit as clean: the default looked
    at pe_bench/results/ alone."""
    import inspect

    import pe_bench

    default = inspect.signature(git_commit).parameters["source"].default
    assert default == Path(pe_bench.__file__).resolve().parent


def entry(command: list[str] | None = None, started_at: str = "2024-01-01T00:00:00+00:00") -> dict:
    return {"started_at": started_at, "command": shlex.join(command or ["pe-bench", "compare"]), "status": "running"}


def corrupt_copies(folder):
    return sorted(folder.glob("manifest.json.corrupt-*"))


def test_check_says_nothing_without_a_manifest_or_with_a_good_one(tmp_path):
    assert manifest.check(tmp_path) is None
    manifest.record(tmp_path, entry())
    before = (tmp_path / "manifest.json").read_bytes()
    assert manifest.check(tmp_path) is None
    assert (tmp_path / "manifest.json").read_bytes() == before and not corrupt_copies(tmp_path)


@pytest.mark.parametrize("content,why", [
    (None, "not JSON"),  # a good manifest with a line appended: echo x >> manifest.json
    (b'{"runs": 5}', 'its "runs" is not a list of runs'),
    (b'{"runs": [1, 2]}', 'its "runs" is not a list of runs'),
    (b'[{"started_at": "x"}]', 'no list of "runs"'),
    (b'{"name": "my app"}', 'no list of "runs"'),
    (b"\xff\xfe", "not UTF-8"),
    (b"[" * 100000 + b"]" * 100000, "not JSON pe-bench can read (RecursionError)"),
])
def test_a_corrupt_manifest_is_moved_aside_never_deleted(tmp_path, content, why):
    path = tmp_path / "manifest.json"
    if content is None:
        manifest.record(tmp_path, entry())
        content = path.read_bytes() + b"x\n"
    path.write_bytes(content)
    notice = manifest.check(tmp_path)
    [copy] = corrupt_copies(tmp_path)
    assert copy.read_bytes() == content and not path.exists()
    assert notice is not None and "\n" not in notice and str(copy) in notice and why in notice
    assert copy.name.startswith("manifest.json.corrupt-") and copy.name.endswith("Z")


def test_record_never_drops_earlier_runs(tmp_path):
    """echo x >> manifest.json between two runs: the first run's entry is kept, in the moved copy."""
    path = tmp_path / "manifest.json"
    manifest.record(tmp_path, entry(started_at="first"))
    damaged = path.read_bytes() + b"x\n"
    path.write_bytes(damaged)
    notice = manifest.record(tmp_path, entry(started_at="second"))
    [copy] = corrupt_copies(tmp_path)
    assert copy.read_bytes() == damaged and str(copy) in notice
    assert [run["started_at"] for run in json.loads(path.read_text())["runs"]] == ["second"]
    path.write_text('{"runs": ["not a run"]}')  # a runs list that is not one: moved aside too, no traceback
    assert manifest.record(tmp_path, entry(started_at="third")) is not None
    assert len(corrupt_copies(tmp_path)) == 2


def test_two_corrupt_manifests_in_the_same_second_keep_both_copies(tmp_path):
    for text in ("first", "second"):
        (tmp_path / "manifest.json").write_text(text)
        assert manifest.check(tmp_path) is not None
    assert sorted(copy.read_text() for copy in corrupt_copies(tmp_path)) == ["first", "second"]


def test_a_manifest_that_is_a_folder_or_a_fifo_is_an_input_error(tmp_path):
    (tmp_path / "manifest.json").mkdir()
    (tmp_path / "manifest.json" / "mine.txt").write_text("mine")
    for call in (lambda: manifest.check(tmp_path), lambda: manifest.record(tmp_path, entry())):
        with pytest.raises(InputError, match="manifest.json is a folder, not pe-bench's manifest"):
            call()
    assert (tmp_path / "manifest.json" / "mine.txt").read_text() == "mine"
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "manifest.json")
    with deadline(), pytest.raises(InputError, match="manifest.json is a FIFO, not pe-bench's manifest"):
        manifest.check(fifo)


def test_an_unreadable_manifest_is_an_input_error(tmp_path, monkeypatch):
    manifest.record(tmp_path, entry())
    path = tmp_path / "manifest.json"
    real = os.open

    def denied(target, *args, **kwargs):
        if os.fspath(target) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(target, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(InputError, match=r"manifest.json cannot be read \(permission denied\)"):
        manifest.check(tmp_path)
    assert path.exists() and not corrupt_copies(tmp_path)


def test_the_command_is_recorded_shell_quoted():
    command = ["pe-bench", "compare", "--out", "my results", "--corpus", "it's here"]
    recorded = manifest.new_entry(encodings=("rope",), suites={}, preset="tiny", runtime_record={}, seed=0,
                                  resume=False, command=command)["command"]
    assert shlex.split(recorded) == command
