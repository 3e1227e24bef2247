"""Trained models on disk, keyed by a hash of everything that determines them.

A checkpoint's file name carries the hash of its identity (encoding, model config, training
config, corpus checksum, format version), so a later run with the same identity finds it
and skips training, and a changed setting never picks up a stale model. Files are written
to a temporary name and renamed, so an interrupted run leaves no half-written checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from pe_bench.errors import InputError
from pe_bench.model import ModelConfig, Transformer
from pe_bench.results.files import atomic_target
from pe_bench.runtime import Runtime
from pe_bench.training import TrainConfig, TrainResult

FORMAT = 2  # bump when training or the model changes in a way the identity does not capture


def identity(encoding: str, model_config: ModelConfig, train_config: TrainConfig, corpus_checksum: str,
             runtime: Runtime) -> dict:
    """Everything that determines a trained model, as plain JSON-able values.

    The dtype and the device type are part of it: a bfloat16 model is not a float32 one, and
    GPU kernels do not round like CPU ones.
    """
    return {"format": FORMAT, "encoding": encoding, "model": asdict(model_config), "train": asdict(train_config),
            "corpus": corpus_checksum, "dtype": runtime.dtype_name, "device": runtime.device.type}


def key_of(ident: dict) -> str:
    """16 hex digits of the identity's hash: the checkpoint's name and its proof of origin."""
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def path_for(folder: Path, ident: dict) -> Path:
    """Where the checkpoint with this identity lives in ``folder``."""
    return folder / f"{ident['encoding']}-L{ident['train']['train_len']}-{key_of(ident)}.pt"


def save(path: Path, ident: dict, model: Transformer, result: TrainResult) -> None:
    """Write atomically: a temporary file in the same folder, then a rename."""
    payload = {"identity": ident, "key": key_of(ident), "state_dict": model.state_dict(),
               "curve": result.curve, "tokens_per_s": result.tokens_per_s, "seconds": result.seconds}
    with atomic_target(path) as tmp:
        torch.save(payload, tmp)


def load(path: Path, ident: dict, model: Transformer) -> TrainResult:
    """Load weights into ``model``; a corrupt file or one made for another config is an InputError."""
    try:
        payload: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as e:
        raise InputError(f"checkpoint {path} is corrupt ({type(e).__name__}); delete it or rerun with --retrain") from None
    if not isinstance(payload, dict) or payload.get("key") != key_of(ident) or payload.get("identity") != json.loads(
            json.dumps(ident, default=str)):
        raise InputError(f"checkpoint {path} was made for another configuration; delete it or rerun with --retrain")
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as e:
        raise InputError(f"checkpoint {path} does not fit the model ({type(e).__name__}); rerun with --retrain") from None
    model.eval()
    return TrainResult(payload["curve"], payload["tokens_per_s"], payload["seconds"])
