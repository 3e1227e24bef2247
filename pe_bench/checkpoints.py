"""Trained models on disk, keyed by a hash of everything that determines them.

A checkpoint's file name carries the hash of its identity (encoding, model config, training
config, corpus checksum, format version), so a later run with the same identity finds it
and skips training, and a changed setting never picks up a stale model. Files are written
to a temporary name and renamed, so an interrupted run leaves no half-written checkpoint.

Before any training, ``check_folder`` says whether ``<out>/checkpoints`` can hold them, and
``load`` refuses, without hanging or a traceback, a checkpoint that cannot be read: one
that is corrupt, unreadable, a folder, a FIFO or anything else that is not a regular file.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import stat
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

import torch

from pe_bench import paths
from pe_bench.errors import InputError
from pe_bench.model import ModelConfig, Transformer
from pe_bench.results.files import atomic_target
from pe_bench.runtime import Runtime
from pe_bench.training import Snapshots, TrainConfig, TrainResult

FORMAT = 2  # bump when training or the model changes in a way the identity does not capture
#: how often a training run keeps its state part-way (training.Snapshots): a standard model's (about 40 MB
#: with its optimizer) takes well under a second to write, and a run cut off loses at most this much training
SNAPSHOT_EVERY_S = 300.0


def identity(encoding: str, model_config: ModelConfig, train_config: TrainConfig, corpus_checksum: str,
             runtime: Runtime) -> dict:
    """Everything that determines a trained model, as plain JSON-able values.

    The dtype, the device type and the thread count are part of it: a bfloat16 model is not a
    float32 one, GPU kernels do not round like CPU ones, and the order of a reduction (which
    the thread count sets) moves the last digits of a trained model.
    """
    return {"format": FORMAT, "encoding": encoding, "model": asdict(model_config), "train": asdict(train_config),
            "corpus": corpus_checksum, "dtype": runtime.dtype_name, "device": runtime.device.type,
            "threads": runtime.threads}


def key_of(ident: dict) -> str:
    """16 hex digits of the identity's hash: the checkpoint's name and its proof of origin."""
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def path_for(folder: Path, ident: dict) -> Path:
    """Where the checkpoint with this identity lives in ``folder``."""
    return folder / f"{ident['encoding']}-L{ident['train']['train_len']}-{key_of(ident)}.pt"


def partial_path(path: Path) -> Path:
    """Where the training of the checkpoint at ``path`` keeps its state part-way (``snapshots``)."""
    return path.with_suffix(".partial.pt")


def snapshots(path: Path, ident: dict, fresh: bool = False, every_s: float | None = None) -> Snapshots:
    """Training's state part-way, kept beside the checkpoint it will become (``partial_path``) and
    removed when that checkpoint is saved (``save``). ``fresh`` (``--retrain``): the state found is
    removed, not used. A state that cannot be read or was kept for another
    identity is not used either: training starts at step 0, as it would have without it.
    ``every_s``: how often one is kept (None: ``SNAPSHOT_EVERY_S``)."""
    partial = partial_path(path)

    def load() -> dict | None:
        if fresh:  # --retrain: an earlier state is of no use to anyone now
            partial.unlink(missing_ok=True)
            return None
        try:
            with _open(partial) as f:
                payload = _load_payload(partial, f)
        except (InputError, OSError):  # missing, unreadable, corrupt: as if none had been kept
            return None
        return payload["state"] if isinstance(payload, dict) and payload.get("key") == key_of(ident) else None

    def keep(state: dict) -> None:
        with atomic_target(partial) as tmp:
            with open(tmp, "wb") as f:
                torch.save({"key": key_of(ident), "state": state}, f)

    return Snapshots(load, keep, lambda: partial.unlink(missing_ok=True),
                     SNAPSHOT_EVERY_S if every_s is None else every_s)


def save(path: Path, ident: dict, model: Transformer, result: TrainResult) -> None:
    """Write atomically: a temporary file in the same folder, then a rename; the state its training
    kept part-way (``snapshots``) is removed then."""
    # stored as JSON sees it (tuples as lists), which is what load compares it with
    payload = {"identity": json.loads(json.dumps(ident, default=str)), "key": key_of(ident),
               "state_dict": model.state_dict(),
               "curve": result.curve, "tokens_per_s": result.tokens_per_s, "seconds": result.seconds}
    with atomic_target(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: a full disk is an OSError, not torch's RuntimeError
            torch.save(payload, f)
    partial_path(path).unlink(missing_ok=True)


def check_folder(folder: Path) -> None:
    """Before any training: ``folder`` (``<out>/checkpoints``) is a folder pe-bench can write, or does not exist yet.

    InputError if it is a file (or anything else but a folder), a symbolic link loop, or a
    folder that cannot be written; also if a ``*.pt`` entry in it is a folder, which no
    checkpoint can replace (even with --retrain). Nothing is created or changed.
    """
    try:
        mode = os.stat(folder).st_mode
    except FileNotFoundError:
        return  # made when the first checkpoint is saved
    except OSError as e:
        if e.errno == errno.ENOTDIR:
            raise InputError(f"{folder} cannot be made: a part of its path is a file; give another --out") from None
        raise InputError(f"the checkpoint folder {folder} {paths.problem(e)}; fix it or give another --out") from None
    if not stat.S_ISDIR(mode):
        raise InputError(f"{folder} is {paths.kind(mode)}, not a folder (pe-bench keeps its checkpoints there); move it "
                         f"away or give another --out")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"the checkpoint folder {folder} cannot be written (permission denied); fix its "
                         f"permissions or give another --out")
    try:
        entries = list(os.scandir(folder))
    except OSError as e:
        raise InputError(f"the checkpoint folder {folder} {paths.problem(e)}; fix it or give another --out") from None
    for entry in entries:
        if entry.name.endswith(".pt") and entry.is_dir(follow_symlinks=False):
            raise InputError(f"checkpoint {folder / entry.name} is a folder, not a checkpoint file; delete it or "
                             f"move it away (a checkpoint cannot replace a folder)")


def _open(path: Path) -> BinaryIO:
    """``path`` opened for reading if it is a regular file (never blocking on a FIFO); InputError otherwise."""
    try:
        return paths.open_regular(path)
    except paths.NotRegularFile as e:
        if stat.S_ISDIR(e.mode):
            raise InputError(f"checkpoint {path} is a folder, not a checkpoint file; delete it or move it away (a "
                             f"checkpoint cannot replace a folder)") from None
        raise InputError(f"checkpoint {path} is {paths.kind(e.mode)}, not a regular file; delete it or rerun "
                         "with --retrain") from None
    except OSError as e:
        raise InputError(f"checkpoint {path} {paths.problem(e)}; delete it or rerun with --retrain") from None


def load(path: Path, ident: dict, model: Transformer) -> TrainResult:
    """Load weights into ``model``; a corrupt file or one made for another config is an InputError.

    So is one that cannot be read, a folder, a FIFO or anything but a regular file.
    """
    with _open(path) as f:  # InputError (a ValueError) for what cannot be read: not "corrupt"
        payload = _load_payload(path, f)
    if not isinstance(payload, dict) or payload.get("key") != key_of(ident) or payload.get("identity") != json.loads(
            json.dumps(ident, default=str)):
        raise InputError(f"checkpoint {path} was made for another configuration; delete it or rerun with --retrain")
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as e:
        raise InputError(f"checkpoint {path} does not fit the model ({type(e).__name__}); rerun with --retrain") from None
    model.eval()
    return TrainResult(payload["curve"], payload["tokens_per_s"], payload["seconds"])


def _load_payload(path: Path, f: Any) -> Any:
    """What ``torch.load`` finds in the open file ``f``; InputError if it is not a checkpoint or cannot be read."""
    try:
        return torch.load(f, map_location="cpu", weights_only=True)
    except OSError as e:
        raise InputError(f"checkpoint {path} {paths.problem(e)}; delete it or rerun with --retrain") from None
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as e:
        raise InputError(f"checkpoint {path} is corrupt ({type(e).__name__}); delete it or rerun with --retrain") from None
