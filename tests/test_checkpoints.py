"""Checkpoints on disk (pe_bench.checkpoints): what cannot be read is a one-line error, never a hang.

The tests run as root, for whom chmod does not stop a read: an unreadable checkpoint is
simulated by making ``open``/``os.open`` raise PermissionError for its path, which is what a
user without the permission gets.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pe_bench import checkpoints
from pe_bench.errors import InputError
from pe_bench.model import build_model, preset
from pe_bench.runtime import make_runtime
from pe_bench.training import TrainConfig, TrainResult

from file_faults import deadline, unreadable


CONFIG = preset("tiny")
TRAIN = TrainConfig(train_len=16, steps=1, batch_size=1, lr=1e-3, warmup=1, seed=0)
IDENT = checkpoints.identity("rope", CONFIG, TRAIN, "corpus-checksum", make_runtime("cpu"))
RETRAIN = "delete it or rerun with --retrain"


def model():
    return build_model("rope", CONFIG)


@pytest.fixture
def saved(tmp_path) -> Path:
    path = checkpoints.path_for(tmp_path / "checkpoints", IDENT)
    checkpoints.save(path, IDENT, model(), TrainResult([{"step": 1, "loss": 5.0}], 10.0, 0.5))
    return path


def test_a_saved_checkpoint_loads(saved):
    result = checkpoints.load(saved, IDENT, model())
    assert result.tokens_per_s == 10.0 and result.curve == [{"step": 1, "loss": 5.0}]


def test_an_unreadable_checkpoint_is_named(saved, monkeypatch):
    unreadable(monkeypatch, saved)
    with pytest.raises(InputError, match=rf"checkpoint {saved} cannot be read \(permission denied\); {RETRAIN}"):
        checkpoints.load(saved, IDENT, model())


def test_a_folder_in_place_of_a_checkpoint_is_named(tmp_path):
    path = checkpoints.path_for(tmp_path, IDENT)
    path.mkdir()
    with pytest.raises(InputError, match=rf"checkpoint {path} is a folder, not a checkpoint file; delete it"):
        checkpoints.load(path, IDENT, model())


def test_a_fifo_in_place_of_a_checkpoint_is_refused_without_hanging(tmp_path):
    path = checkpoints.path_for(tmp_path, IDENT)
    os.mkfifo(path)
    with deadline(), pytest.raises(InputError, match=rf"checkpoint {path} is a FIFO, not a regular file; {RETRAIN}"):
        checkpoints.load(path, IDENT, model())


def test_a_corrupt_checkpoint_is_still_corrupt(tmp_path):
    path = checkpoints.path_for(tmp_path, IDENT)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=rf"is corrupt \(.*\); {RETRAIN}"):
        checkpoints.load(path, IDENT, model())


def test_check_folder_accepts_a_folder_or_nothing_yet(tmp_path, saved):
    checkpoints.check_folder(tmp_path / "new" / "checkpoints")
    checkpoints.check_folder(saved.parent)


def test_check_folder_refuses_a_file_before_any_training(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.write_text("my notes\n")
    with pytest.raises(InputError, match=rf"{folder} is a regular file, not a folder .*give another --out"):
        checkpoints.check_folder(folder)
    assert folder.read_text() == "my notes\n"


def test_check_folder_refuses_a_fifo_a_loop_and_a_path_through_a_file(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with deadline(), pytest.raises(InputError, match="fifo is a FIFO, not a folder"):
        checkpoints.check_folder(tmp_path / "fifo")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(InputError, match="is a symbolic link loop"):
        checkpoints.check_folder(tmp_path / "loop")
    (tmp_path / "out").write_text("")
    with pytest.raises(InputError, match="a part of its path is a file"):
        checkpoints.check_folder(tmp_path / "out" / "checkpoints")


def test_check_folder_refuses_a_folder_no_checkpoint_can_replace(tmp_path, saved):
    (saved.parent / "rope-L16-0123456789abcdef.pt").mkdir()
    with pytest.raises(InputError, match=r"rope-L16-0123456789abcdef\.pt is a folder, not a checkpoint file"):
        checkpoints.check_folder(saved.parent)


def test_check_folder_refuses_a_folder_that_cannot_be_written(tmp_path, monkeypatch, saved):
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: Path(path) != saved.parent and real(path, mode, **kw))
    with pytest.raises(InputError, match="cannot be written"):
        checkpoints.check_folder(saved.parent)
