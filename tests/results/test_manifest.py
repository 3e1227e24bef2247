"""manifest.json: the git commit a run was made at, and when it counts as dirty."""

import shutil
import subprocess

import pytest

from pe_bench.results.manifest import git_commit


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
