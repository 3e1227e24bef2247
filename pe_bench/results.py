"""Result tables on disk: schemas, atomic writes, rows replaced by key.

Every file is written to a temporary file in the same folder and renamed over the target,
so an interrupted run leaves either the old file or the new one, never half of one. A
later run replaces the rows that have the same key instead of duplicating them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pe_bench.errors import InputError


@dataclass(frozen=True)
class Schema:
    """A results table: its file name, its columns in order, and the columns that key a row."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"


RUN_COLUMNS = ("device", "dtype", "threads", "torch_version")

SPEED = Schema(
    "speed",
    columns=("encoding", "backend", "mode", "seq_len", "batch_size", "preset", "ms_median", "ms_iqr",
             "tokens_per_s", "pe_ms_median", "pe_share", "ratio_vs_nope", "peak_mem_mb", "peak_mem_method",
             "compile_s", "supported", "note", *RUN_COLUMNS),
    key=("encoding", "backend", "mode", "seq_len", "batch_size", "preset", "device", "dtype"),
)

KVCACHE = Schema(
    "kvcache",
    columns=("encoding", "backend", "policy", "positions", "window", "sinks", "context_len", "preset", "prefill_ms",
             "cached_ms_per_token", "uncached_ms_per_token", "speedup", "pe_ms_per_step", "max_abs_logit_diff",
             "cache_bytes_per_token", "cache_bytes_formula", "extra_state_bytes", "supported", "note", *RUN_COLUMNS),
    key=("encoding", "backend", "policy", "positions", "window", "sinks", "context_len", "preset", "device", "dtype"),
)

SHIFT = Schema(
    "shift",
    columns=("encoding", "backend", "offset", "seq_len", "preset", "max_abs_logit_diff", "supported", "note",
             *RUN_COLUMNS),
    key=("encoding", "backend", "offset", "seq_len", "preset", "device", "dtype"),
)

PRECISION = Schema(
    "precision",
    columns=("encoding", "position", "dtype", "quantity", "abs_error", "rel_error", "device", "torch_version"),
    key=("encoding", "position", "dtype", "quantity", "device"),
)

EXTRAPOLATION = Schema(
    "extrapolation",
    columns=("encoding", "variant", "task", "train_len", "eval_len", "eval_mode", "stride", "metric", "value",
             "steps", "seed", "params", "preset", "supported", "note", "device", "dtype", "corpus", "corpus_checksum",
             "torch_version"),
    key=("encoding", "variant", "task", "train_len", "eval_len", "eval_mode", "stride", "metric", "steps", "seed",
         "preset", "corpus_checksum", "device", "dtype"),
)

TRAINING = Schema(
    "training",
    columns=("encoding", "step", "loss", "tokens_per_s", "train_len", "steps", "seed", "preset", "corpus_checksum",
             "device", "dtype"),
    key=("encoding", "step", "train_len", "steps", "seed", "preset", "corpus_checksum", "device", "dtype"),
)

SCHEMAS: dict[str, Schema] = {s.name: s for s in (SPEED, KVCACHE, SHIFT, PRECISION, EXTRAPOLATION, TRAINING)}


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path`` to write to; renamed over ``path`` when the block ends.

    If the block raises (or is interrupted) the temporary file is removed and ``path`` is
    left as it was. The file gets the permissions a plain ``open`` would give it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it owner-only
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    with atomic_target(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def read_table(path: Path, schema: Schema) -> pd.DataFrame:
    """Read a results CSV; a file that is not one (garbage, missing columns) is an InputError."""
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not a readable CSV ({type(e).__name__}); expected the {schema.name} table") from None
    missing = [c for c in schema.columns if c not in df.columns]
    if missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise InputError(f"{path} is not a {schema.name} table: it lacks the columns {shown}")
    return df


def is_true(column: pd.Series) -> pd.Series:
    """True where a flag column says True, whether it holds bools or, after a CSV round trip, text."""
    return column.map(lambda v: str(v).strip().lower() == "true").astype(bool)


def supported_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with ``supported`` true."""
    return df[is_true(df["supported"])]


def key_text(value: object) -> str:
    """A key cell as text that survives a CSV round trip: empty for missing, 128 for 128.0."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def key_strings(df: pd.DataFrame, columns: Iterable[str]) -> pd.Series:
    """One string per row joining ``columns`` through ``key_text``, for matching rows by key."""
    return df[list(columns)].map(key_text).agg("\x1f".join, axis=1)


def upsert(out_dir: Path, schema: Schema, rows: Iterable[dict]) -> pd.DataFrame:
    """Merge ``rows`` into ``<out_dir>/<schema>.csv``: same key replaces, new key appends.

    An existing file that is not a valid table raises InputError and is left untouched.
    """
    new = pd.DataFrame(list(rows))
    for column in schema.columns:
        if column not in new.columns:
            new[column] = pd.NA
    path = out_dir / schema.filename
    if path.exists():
        old = read_table(path, schema)
        old = old[~key_strings(old, schema.key).isin(set(key_strings(new, schema.key)))]
        merged = pd.concat([old, new], ignore_index=True) if len(old) else new
    else:
        merged = new
    extra = [c for c in merged.columns if c not in schema.columns]
    merged = merged[list(schema.columns) + extra]
    write_atomic(path, merged.to_csv(index=False))
    return merged
