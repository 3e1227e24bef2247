"""Corpus loading (pe_bench.data): what a corpus folder may hold, and one-line errors for everything else.

The tests run as root, for whom chmod does not stop a read: an unreadable file or folder is
simulated by making ``open``/``os.open``/``os.scandir`` raise PermissionError for that path
(``unreadable`` below), which is what a user without the permission gets.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from pe_bench import data
from pe_bench.cli import app
from pe_bench.data import build_corpus, corpus_files, load_corpus
from pe_bench.errors import InputError

from file_faults import deadline, unreadable


def write_text_files(folder: Path, n: int = 3, size: int = 3000) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"f{i}.txt").write_text("".join(chr(97 + (i * 7 + k) % 26) for k in range(size - 1)) + "\n")
    return folder


def test_a_folder_of_text_files_is_read_in_sorted_order(tmp_path):
    folder = write_text_files(tmp_path / "c")
    corpus = load_corpus(folder)
    assert corpus.files == 3 and corpus.bytes == 9000
    assert corpus_files(folder) == sorted(folder.glob("*.txt"))


def test_checksum_and_split_are_unchanged(tmp_path):
    """The split is built from slices now; it must equal the mask it replaced, byte for byte (checkpoints
    and committed results are keyed by the checksum)."""
    folder = write_text_files(tmp_path / "c", n=2, size=12345)
    corpus = load_corpus(folder)
    assert corpus.checksum == "70fecebaee827c61"  # as computed before the rewrite
    stream = torch.frombuffer(bytearray(b"".join(p.read_bytes() for p in sorted(folder.iterdir()))), dtype=torch.uint8)
    for n in (1, 9, 10, 99, 100, 101, 199, 1000, len(stream)):
        part = stream[:n]
        is_val = (torch.arange(n) // max(1, n // 100)) % 10 == 9  # the mask the slices replaced
        train, val = data._split(part)
        assert torch.equal(train, part[~is_val]) and torch.equal(val, part[is_val]), n
    assert torch.equal(corpus.train, data._split(stream)[0]) and torch.equal(corpus.val, data._split(stream)[1])


def test_an_unreadable_file_in_a_corpus_folder_is_named(tmp_path, monkeypatch):
    folder = write_text_files(tmp_path / "c")
    unreadable(monkeypatch, folder / "f1.txt")
    with pytest.raises(InputError, match=r"f1\.txt cannot be read \(permission denied\)"):
        load_corpus(folder)


def test_an_unreadable_subfolder_is_named_not_left_out(tmp_path, monkeypatch):
    folder = write_text_files(tmp_path / "c")
    write_text_files(folder / "sub", n=1)
    unreadable(monkeypatch, folder / "sub")
    with pytest.raises(InputError, match=r"the folder .*sub cannot be read \(permission denied\)"):
        load_corpus(folder)


def test_an_unreadable_corpus_file_is_named(tmp_path, monkeypatch):
    file = write_text_files(tmp_path / "c", n=1) / "f0.txt"
    unreadable(monkeypatch, file)
    with pytest.raises(InputError, match=r"f0\.txt cannot be read \(permission denied\)"):
        load_corpus(file)


def test_a_fifo_as_the_corpus_is_refused_without_being_opened(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with deadline(), pytest.raises(InputError, match=r"pipe is not a regular file or folder \(a FIFO\)"):
        load_corpus(fifo)


def test_a_fifo_or_socket_inside_a_corpus_folder_is_named(tmp_path):
    folder = write_text_files(tmp_path / "c")
    os.mkfifo(folder / "pipe")
    with deadline(), pytest.raises(InputError, match=r"pipe is not a regular file or folder \(a FIFO\)"):
        load_corpus(folder)
    os.unlink(folder / "pipe")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(folder / "sock"))
        with deadline(), pytest.raises(InputError, match=r"sock is not a regular file or folder \(a socket\)"):
            load_corpus(folder)
    finally:
        server.close()


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_is_not_a_regular_file_or_folder():
    message = r"/dev/zero is not a regular file or folder \(a character device\)"
    with deadline(), pytest.raises(InputError, match=message):
        corpus_files(Path("/dev/zero"))


def test_a_symlink_loop_says_so(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(InputError, match="is a symbolic link loop"):
        load_corpus(loop)
    folder = write_text_files(tmp_path / "c")
    (folder / "a").symlink_to(folder / "b")
    (folder / "b").symlink_to(folder / "a")
    with pytest.raises(InputError, match=r"c/a is a symbolic link loop"):
        load_corpus(folder)


def test_a_folder_holding_only_a_link_loop_names_the_loop_not_no_files(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "self").symlink_to(folder)  # a link back to its own folder: never followed, so no files
    with pytest.raises(InputError) as error:
        load_corpus(folder)
    assert f"{folder / 'self'} is a symbolic link loop" in str(error.value)
    (folder / "self").unlink()
    (folder / "other").symlink_to(write_text_files(tmp_path / "elsewhere", n=1))
    with pytest.raises(InputError, match=r"only symbolic links to folders, which are not followed: .*other links to"):
        load_corpus(folder)


def test_a_broken_link_inside_a_folder_is_named_and_a_missing_corpus_does_not_exist(tmp_path):
    folder = write_text_files(tmp_path / "c")
    (folder / "gone.txt").symlink_to(tmp_path / "nowhere")
    with pytest.raises(InputError, match=r"gone\.txt is a symbolic link to nothing"):
        load_corpus(folder)
    with pytest.raises(InputError, match="does not exist"):
        load_corpus(tmp_path / "missing")


def test_links_to_files_count_and_links_to_folders_are_not_followed(tmp_path):
    folder = write_text_files(tmp_path / "c", n=2)
    other = write_text_files(tmp_path / "other", n=1)
    (folder / "link.txt").symlink_to(other / "f0.txt")
    (folder / "dirlink").symlink_to(other)
    assert [p.name for p in corpus_files(folder)] == ["f0.txt", "f1.txt", "link.txt"]


def test_a_file_name_that_is_not_utf8_is_hashed_not_a_traceback(tmp_path):
    folder = write_text_files(tmp_path / "c", n=1)
    (folder / os.fsdecode(b"caf\xe9.txt")).write_text("some text\n" * 50)
    assert load_corpus(folder).files == 2


def test_binary_is_judged_from_the_first_4096_bytes_only(tmp_path):
    folder = write_text_files(tmp_path / "c", n=1)
    (folder / "late-nul.txt").write_bytes(b"x" * 4096 + b"\x00" + b"y" * 100)  # text by its head
    (folder / "image.bin").write_bytes(b"\x00" * 10 + b"z" * 5000)  # binary by its head
    corpus = load_corpus(folder)
    assert corpus.files == 2 and corpus.bytes == 3000 + 4197


def test_a_huge_binary_file_is_never_read_into_memory(tmp_path):
    """A 4 GiB (sparse) disk image in the folder, under an address-space limit 1 GiB above what the
    process already uses: reading it whole would be a MemoryError."""
    folder = write_text_files(tmp_path / "c")
    with open(folder / "disk.img", "wb") as f:
        f.write(b"\x00" * 512)
        f.truncate(4 << 30)
    script = textwrap.dedent(f"""
        import resource
        from pathlib import Path
        from pe_bench.data import load_corpus
        size = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (size + (1 << 30), resource.RLIM_INFINITY))
        print(load_corpus(Path({str(folder)!r})).files)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "3", result.stderr[-2000:]


def test_too_much_text_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_CORPUS_BYTES", 5000)
    folder = write_text_files(tmp_path / "c", n=1, size=6000)
    with pytest.raises(InputError, match=r"f0\.txt is 6,000 bytes of text, more than the 5,000 bytes a corpus"):
        load_corpus(folder)
    folder = write_text_files(tmp_path / "d", n=3, size=2000)
    with pytest.raises(InputError, match=r"holds 6,000 bytes of text, more than the 5,000 bytes .*largest: "):
        load_corpus(folder)


def test_a_file_that_grew_after_it_was_judged_is_still_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_CORPUS_BYTES", 5000)
    file = write_text_files(tmp_path / "c", n=1, size=3000) / "f0.txt"
    judge = data._Reader.text_size

    def judged_then_grows(self, f):
        size = judge(self, f)
        with open(f, "a") as handle:
            handle.write("z" * 4000)
        return size

    monkeypatch.setattr(data._Reader, "text_size", judged_then_grows)
    with pytest.raises(InputError, match=r"f0\.txt is 7,000 bytes of text, more than the 5,000 bytes"):
        build_corpus("c", [file])


def invoke(*args: str):
    return CliRunner().invoke(app, ["compare", "--suite", "extrapolation", "--preset", "tiny", *args])


@pytest.mark.parametrize("make,message", [
    (lambda d: Path("/dev/zero"), "is not a regular file or folder"),
    (lambda d: (os.mkfifo(d / "fifo"), d / "fifo")[1], "is not a regular file or folder (a FIFO)"),
    (lambda d: ((d / "loop").symlink_to(d / "loop"), d / "loop")[1], "is a symbolic link loop"),
])
def test_bad_corpora_through_the_cli_are_one_line_exit_2_nothing_written(tmp_path, make, message):
    corpus = make(tmp_path)
    out = tmp_path / "out"
    with deadline(60):
        result = invoke("--corpus", str(corpus), "--out", str(out))
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
    assert not out.exists()
