"""Byte-level corpora, built from files already on the machine (nothing is downloaded).

The default corpus is the Python standard library's own top-level source files of the
running interpreter (``<stdlib>/*.py``, about 4.7 MB for CPython 3.11). ``--corpus PATH``
takes a text file or a folder of text files instead. Tokens are bytes: vocabulary 256.

Files are read in sorted order and concatenated; the stream is cut into 100 equal blocks
and every tenth block (the 10th, 20th, ...) is validation, the rest training. The split
depends only on the bytes, so it is the same on every machine with the same files, and
the checksum (over file names and contents) says whether two runs saw the same data.

What a folder contributes, and what is refused (an ``InputError``, before anything is read
in full):

- every regular file under it, in any subfolder, except names starting with a dot (and
  everything under such a folder). A symbolic link to a file counts as that file; a
  symbolic link to a folder is not followed.
- a file whose first 4096 bytes hold a NUL byte is binary and is left out, as is an empty
  file; only these first 4096 bytes are read to decide, so a disk image in the folder costs
  nothing.
- at most ``MAX_CORPUS_BYTES`` (1 GiB) of text in all: a larger file, or text files adding
  up to more, is refused (with the largest files named) before any of them is read in full.
  What is read is bounded by that limit even if a file grows while it is read.
- refused, naming the entry: a file or subfolder that cannot be read (permission denied, an
  I/O error), anything that is not a regular file or folder (a FIFO, a socket, a device such
  as ``/dev/zero``), a symbolic link loop and a symbolic link to nothing. Nothing under the
  folder is silently left out except the dot-names, empty files and binary files above.

``--corpus PATH`` itself must be a regular file or a folder; a FIFO or a device is refused
without being opened.
"""

from __future__ import annotations

import hashlib
import os
import platform
import stat
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from pe_bench import paths
from pe_bench.errors import InputError

N_BLOCKS = 100  # the stream is cut into this many blocks
VALIDATION_EVERY = 10  # every 10th block is validation
HEAD_BYTES = 4096  # a file with a NUL byte in its first HEAD_BYTES bytes is binary
MAX_CORPUS_BYTES = 1 << 30  # at most this much text is read (1 GiB)
_CHUNK = 1 << 20  # files are read in pieces of this size

_GIVE = "give a text file or a folder of text files"


@dataclass(frozen=True)
class Corpus:
    """A byte corpus split into training and validation streams (uint8 tensors)."""

    name: str
    files: int
    bytes: int
    checksum: str  # first 16 hex digits of sha256 over names and contents
    train: Tensor
    val: Tensor


def default_corpus_files() -> tuple[str, list[Path]]:
    """The running interpreter's top-level standard-library sources, sorted."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return f"python-stdlib-{platform.python_version()}", sorted(stdlib.glob("*.py"))


def _is_text(data: bytes) -> bool:
    return b"\x00" not in data[:HEAD_BYTES]


def _size(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def _walk(top: Path, folder_links: list[Path] | None = None) -> Iterator[Path]:
    """Every regular file under ``top`` (unsorted), dot-names left out; InputError for anything unreadable.

    Iterative (a stack, not recursion): no folder is too deep. The links to folders it does not
    follow are appended to ``folder_links``, so a folder of nothing else can say so.
    """
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                listed = sorted(entries, key=lambda entry: entry.name)  # the first problem named is always the same
        except OSError as e:
            raise InputError(f"--corpus {top}: the folder {folder} {paths.problem(e)}; make it readable or move it "
                             f"out of the corpus") from None
        for entry in listed:
            if entry.name.startswith("."):
                continue
            path = folder / entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(path)
                    continue
                if entry.is_symlink():
                    mode = os.stat(path).st_mode  # follows the link
                    if stat.S_ISDIR(mode):
                        if folder_links is not None:
                            folder_links.append(path)
                        continue  # a link to a folder is not followed (documented above)
                else:
                    mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as e:
                problem = paths.problem(e)
                if problem == "does not exist" and os.path.islink(path):
                    problem = "is a symbolic link to nothing"
                raise InputError(f"--corpus {top}: {path} {problem}; fix it or move it out of the corpus") from None
            if not stat.S_ISREG(mode):
                raise InputError(f"--corpus {top}: {path} is not a regular file or folder ({paths.kind(mode)}); "
                                 f"move it out of the corpus")
            yield path


def corpus_files(path: Path) -> list[Path]:
    """A file, or every text file under a folder (sorted); InputError if there are none.

    ``path`` must be a regular file or a folder; it is never opened here.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise InputError(f"--corpus {path} {paths.problem(e)}; {_GIVE}") from None
    if stat.S_ISREG(mode):
        return [path]
    if not stat.S_ISDIR(mode):
        raise InputError(f"--corpus {path} is not a regular file or folder ({paths.kind(mode)}); {_GIVE}")
    folder_links: list[Path] = []
    files = sorted(_walk(path, folder_links))
    if not files:  # say what it holds instead: links to folders (not followed), loops among them
        links = "; ".join(map(_link_note, sorted(folder_links)[:3])) + ("; ..." if len(folder_links) > 3 else "")
        only = f", only symbolic links to folders, which are not followed: {links}" if folder_links else ""
        raise InputError(f"--corpus {path} holds no files{only}; {_GIVE}")
    return files


def _link_note(link: Path) -> str:
    """A link to a folder, in words: a loop if it points at its own folder or one above."""
    target = link.resolve()
    if link.parent.resolve().is_relative_to(target):
        return f"{link} is a symbolic link loop (to {target}, which holds it)"
    return f"{link} links to the folder {target}"


class _Reader:
    """Reads the files of corpus ``name``: a regular file only, opened without blocking (a FIFO never hangs)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def open(self, file: Path):
        try:
            fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as e:
            raise self.error(file, e) from None
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise InputError(f"corpus {self.name}: {file} is not a regular file ({paths.kind(mode)}); move it out "
                                 f"of the corpus")
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def error(self, file: Path, e: OSError) -> InputError:
        return InputError(f"corpus {self.name}: {file} {paths.problem(e)}; make it readable or move it out of the corpus")

    def text_size(self, file: Path) -> int | None:
        """The size of ``file`` if it holds text (judged by its first HEAD_BYTES bytes), None if empty or binary."""
        with self.open(file) as f:
            try:
                head = f.read(HEAD_BYTES)
                size = os.fstat(f.fileno()).st_size
            except OSError as e:
                raise self.error(file, e) from None
        return size if head and _is_text(head) else None

    def read(self, file: Path, limit: int) -> bytearray | None:
        """The whole of a text file (None if it is, by now, empty or binary); InputError past ``limit`` bytes.

        Read in chunks, never more than ``limit`` + 1 bytes, whatever the file does meanwhile.
        """
        with self.open(file) as f:
            try:
                data = bytearray(f.read(HEAD_BYTES))
                if not data or not _is_text(data):
                    return None
                if (size := os.fstat(f.fileno()).st_size) > limit:
                    raise self.too_large(file, size)
                while len(data) <= limit and (chunk := f.read(min(_CHUNK, limit + 1 - len(data)))):
                    data += chunk
            except OSError as e:
                raise self.error(file, e) from None
        if len(data) > limit:
            raise self.too_large(file, len(data))
        return data

    def too_large(self, file: Path, size: int) -> InputError:
        return InputError(f"corpus {self.name}: {file} is {_size(size)} of text, more than the "
                          f"{_size(MAX_CORPUS_BYTES)} a corpus may hold; move it out of the corpus")


def build_corpus(name: str, files: list[Path], root: Path | None = None) -> Corpus:
    """Read, checksum and split ``files``; InputError if they hold no text or more than MAX_CORPUS_BYTES of it.

    Every file is first judged by its first HEAD_BYTES bytes and its size; only then are the
    text files read, so neither a binary file nor too much text is ever read in full.
    """
    reader = _Reader(name)
    texts = [(file, size) for file in files if (size := reader.text_size(file)) is not None]
    total = sum(size for _, size in texts)
    if total > MAX_CORPUS_BYTES:
        largest = sorted(texts, key=lambda item: -item[1])[:3]
        if largest[0][1] > MAX_CORPUS_BYTES:
            raise reader.too_large(*largest[0])
        shown = ", ".join(f"{file} ({_size(size)})" for file, size in largest)
        raise InputError(f"corpus {name} holds {_size(total)} of text, more than the {_size(MAX_CORPUS_BYTES)} a "
                         f"corpus may hold (largest: {shown}); give a smaller file or folder")
    digest = hashlib.sha256()
    stream = bytearray()
    n_files = 0
    for file, _ in texts:
        data = reader.read(file, MAX_CORPUS_BYTES - len(stream))
        if data is None:
            continue  # empty and binary files carry no text
        label = str(file.relative_to(root)) if root is not None else file.name
        digest.update(os.fsencode(label) + b"\x00")  # fsencode: a name that is not UTF-8 still hashes
        digest.update(data)
        stream += data
        n_files += 1
    if not stream:
        raise InputError(f"corpus {name} holds no text (empty or binary files only)")
    data = torch.frombuffer(stream, dtype=torch.uint8)
    train, val = _split(data)
    return Corpus(name=name, files=n_files, bytes=len(data), checksum=digest.hexdigest()[:16], train=train, val=val)


def _split(data: Tensor) -> tuple[Tensor, Tensor]:
    """Training and validation streams (copies): block i = data[i*block:(i+1)*block], every 10th is validation.

    Built from slices, so it needs no more memory than the copies themselves.
    """
    block = max(1, len(data) // N_BLOCKS)
    parts: tuple[list[Tensor], list[Tensor]] = ([], [])
    for index, start in enumerate(range(0, len(data), block)):
        is_val = index % VALIDATION_EVERY == VALIDATION_EVERY - 1
        parts[is_val].append(data[start:start + block])
    train, val = (torch.cat(p) if p else data[:0].clone() for p in parts)
    return train, val


_LOADED: dict[tuple, Corpus] = {}  # by (name, files with size and mtime): read once per run, not once per use


def _stats(name: str, files: list[Path]) -> tuple:
    """(file, size, mtime) of every file, for the cache key; InputError if one cannot be looked at."""
    stats = []
    for file in files:
        try:
            st = os.stat(file)
        except OSError as e:
            raise InputError(f"corpus {name}: {file} {paths.problem(e)}; {_GIVE}") from None
        stats.append((str(file), st.st_size, st.st_mtime_ns))
    return tuple(stats)


def load_corpus(path: Path | None = None) -> Corpus:
    """The default corpus (``path`` None) or the file/folder at ``path``.

    Reading and hashing happen once per set of files: a later call with the same files,
    unchanged (same sizes and modification times), returns the same Corpus.
    """
    if path is None:
        name, files = default_corpus_files()
        root = None
        if not files:
            raise InputError("the standard library's sources are not on this machine; pass --corpus PATH")
    else:
        name, files = str(path), corpus_files(path)
        root = path if path.is_dir() else path.parent
    stats = _stats(name, files)
    if (name, stats) not in _LOADED:
        _LOADED[(name, stats)] = build_corpus(name, files, root)
    return _LOADED[(name, stats)]
