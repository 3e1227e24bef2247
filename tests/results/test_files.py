"""Atomic writes: an interrupted write leaves the old file, a finished one ordinary permissions."""

import os
import stat

import pytest

from pe_bench.results.files import write_atomic


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
