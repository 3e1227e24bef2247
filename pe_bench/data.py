"""Byte-level corpora, built from files already on the machine (nothing is downloaded).

The default corpus is the Python standard library's own top-level source files of the
running interpreter (``<stdlib>/*.py``, about 4.7 MB for CPython 3.11). ``--corpus PATH``
takes a text file or a folder of text files instead. Tokens are bytes: vocabulary 256.

Files are read in sorted order and concatenated; the stream is cut into 100 equal blocks
and every tenth block (the 10th, 20th, ...) is validation, the rest training. The split
depends only on the bytes, so it is the same on every machine with the same files, and
the checksum (over file names and contents) says whether two runs saw the same data.
"""

from __future__ import annotations

import hashlib
import platform
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from pe_bench.errors import InputError

N_BLOCKS = 100  # the stream is cut into this many blocks
VALIDATION_EVERY = 10  # every 10th block is validation


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
    return b"\x00" not in data[:4096]


def corpus_files(path: Path) -> list[Path]:
    """A file, or every text file under a folder (sorted); InputError if there are none."""
    if not path.exists():
        raise InputError(f"--corpus {path} does not exist; give a text file or a folder of text files")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise InputError(f"--corpus {path} holds no files; give a text file or a folder of text files")
    return files


def build_corpus(name: str, files: list[Path], root: Path | None = None) -> Corpus:
    """Read, checksum and split ``files``; InputError if they hold no text."""
    digest = hashlib.sha256()
    chunks: list[bytes] = []
    for file in files:
        data = file.read_bytes()
        if not data or not _is_text(data):
            continue  # empty and binary files carry no text
        label = str(file.relative_to(root)) if root is not None else file.name
        digest.update(label.encode() + b"\x00" + data)
        chunks.append(data)
    stream = b"".join(chunks)
    if not stream:
        raise InputError(f"corpus {name} holds no text (empty or binary files only)")
    data = torch.frombuffer(bytearray(stream), dtype=torch.uint8)
    block = max(1, len(data) // N_BLOCKS)
    block_of = torch.arange(len(data)) // block
    is_val = (block_of % VALIDATION_EVERY) == VALIDATION_EVERY - 1
    return Corpus(name=name, files=len(chunks), bytes=len(data), checksum=digest.hexdigest()[:16],
                  train=data[~is_val].clone(), val=data[is_val].clone())


_LOADED: dict[tuple, Corpus] = {}  # by (name, files with size and mtime): read once per run, not once per use


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
    stats = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    if (name, stats) not in _LOADED:
        _LOADED[(name, stats)] = build_corpus(name, files, root)
    return _LOADED[(name, stats)]
