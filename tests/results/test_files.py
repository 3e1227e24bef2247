"""Atomic writes: an interrupted or failed write leaves the old file and no temporary; a finished one
keeps the replaced file's permissions (ordinary ones for a new file); stale temporaries are cleaned."""

import errno
import os
import stat
import subprocess
import sys

import pytest

from pe_bench.errors import OutputError
from pe_bench.results.files import atomic_target, remove_stale_temporaries, temporary_name, write_atomic


def test_an_interrupted_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "speed.csv"
    path.write_text("old contents\n")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("pe_bench.results.files.os.replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, "new contents\n")
    assert path.read_text() == "old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["speed.csv"]


def test_written_files_get_ordinary_permissions(tmp_path):
    path = tmp_path / "x.csv"
    write_atomic(path, "a\n")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


# temporaries: named after their process, removed by a later run once that process is gone


def test_a_temporary_is_named_after_its_target_and_its_process(tmp_path):
    with atomic_target(tmp_path / "speed.csv") as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(f".speed.csv.pe-bench.{os.getpid()}.") and tmp.name.endswith(".tmp")
        tmp.write_text("a\n")
        assert stat.S_IMODE(tmp.stat().st_mode) == 0o600  # nobody else reads a half-written file
    assert (tmp_path / "speed.csv").read_text() == "a\n" and not tmp.exists()


@pytest.mark.parametrize("mode", [0o444, 0o640, 0o664])
def test_a_replaced_file_keeps_its_permissions(tmp_path, mode):
    path = tmp_path / "speed.csv"
    path.write_text("old\n")
    path.chmod(mode)
    write_atomic(path, "new\n")
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == mode


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=60)
    return child.pid


def test_stale_temporaries_of_a_dead_process_are_removed_and_nothing_else(tmp_path):
    dead = dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for folder in (tmp_path, tmp_path / "plots", tmp_path / "checkpoints"):
            folder.mkdir(exist_ok=True)
        stale = [tmp_path / temporary_name("speed.csv", dead), tmp_path / temporary_name("manifest.json", dead),
                 tmp_path / "plots" / temporary_name("speed_ratio.png", dead),
                 tmp_path / "checkpoints" / temporary_name("rope-L16-0123456789abcdef.pt", dead)]
        kept = [tmp_path / temporary_name("speed.csv", live.pid),  # a running process is writing it
                tmp_path / temporary_name("kvcache.csv"),  # this process
                tmp_path / ".notes.tmp", tmp_path / "notes.tmp",  # the user's
                tmp_path / f".speed.csv.{dead}.abcd1234.tmp",  # not pe-bench's pattern
                tmp_path / "speed.csv", tmp_path / "manifest.json",
                tmp_path / "other" / temporary_name("speed.csv", dead)]  # not a folder pe-bench writes into
        for path in stale + kept:
            path.parent.mkdir(exist_ok=True)
            path.write_text("x")
        a_folder = tmp_path / temporary_name("summary.md", dead)
        a_folder.mkdir()  # named like one, but a folder
        a_link = tmp_path / temporary_name("summary.csv", dead)
        a_link.symlink_to(tmp_path / "speed.csv")  # named like one, but a link

        removed = remove_stale_temporaries(tmp_path)

        assert sorted(removed) == sorted(stale)
        assert not any(p.exists() for p in stale)
        assert all(p.exists() for p in kept) and a_folder.is_dir() and a_link.is_symlink()
        assert remove_stale_temporaries(tmp_path) == []
    finally:
        live.kill()
        live.wait(timeout=60)


def test_looking_for_stale_temporaries_in_a_missing_folder_finds_none(tmp_path):
    assert remove_stale_temporaries(tmp_path / "missing") == []


# a write that fails: one OutputError naming the file, the target untouched, no temporary left


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("failing", ["os.fsync", "os.replace", "os.chmod", "os.open"])
def test_a_full_disk_is_one_output_error_and_changes_nothing(tmp_path, monkeypatch, failing):
    path = tmp_path / "speed.csv"
    path.write_text("old contents\n")
    monkeypatch.setattr(f"pe_bench.results.files.{failing}", enospc)
    with pytest.raises(OutputError) as raised:
        write_atomic(path, "new contents\n")
    assert str(raised.value) == f"cannot write {path}: No space left on device"
    assert raised.value.errno == errno.ENOSPC and isinstance(raised.value, OSError)
    assert path.read_text() == "old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["speed.csv"]


def test_a_failing_writer_inside_the_block_is_an_output_error_too(tmp_path):
    """A figure's or a checkpoint's own writer failing with an OSError (savefig, ...)."""
    path = tmp_path / "plots" / "speed_ratio.png"
    with pytest.raises(OutputError, match=r"^cannot write .*speed_ratio\.png: Read-only file system$"):
        with atomic_target(path) as tmp:
            tmp.write_bytes(b"half a figure")
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    assert list((tmp_path / "plots").iterdir()) == []


def test_a_folder_that_is_a_file_is_an_output_error(tmp_path):
    (tmp_path / "results").write_text("a file, not a folder")
    with pytest.raises(OutputError, match="^cannot write .*results/speed.csv: "):
        write_atomic(tmp_path / "results" / "speed.csv", "a\n")
    assert (tmp_path / "results").read_text() == "a file, not a folder"


def test_a_full_disk_during_a_run_is_one_line_and_exit_2(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pe_bench.cli import app

    monkeypatch.setattr("pe_bench.results.files.os.fsync", enospc)
    result = CliRunner().invoke(app, ["compare", "--encodings", "rope", "--suite", "speed", "--preset", "tiny",
                                      "--seq-lens", "16", "--backends", "sdpa", "--modes", "inference",
                                      "--no-plots", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "No space left on device" in errors[0] and errors[0].startswith("Error: cannot write")
    assert "Traceback" not in result.output
    assert [p for p in (tmp_path / "out").rglob("*") if p.name.endswith(".tmp")] == []
