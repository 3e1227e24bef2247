"""Result tables on disk: schemas with typed columns, validated reads, rows merged by key.

A suite declares each table it writes as a ``Schema``: the file name, the columns in order
(each with a kind and, for measured values, a default), and the columns that key a row.
``Schema.row`` fills a row from what was measured plus the defaults, so no suite lists its
columns twice. A later run replaces the rows that have the same key instead of duplicating
them; every write goes through a temporary file and a rename (files.py).

``read_table`` trusts nothing on disk. It refuses (InputError, one line, the file left as it
is) a path that is not a regular file (a folder, a FIFO: never opened for reading), a file
that cannot be read, one that is not UTF-8 CSV, one whose last row is cut off (no final
newline, an unclosed quote) or whose rows have more or fewer fields than the header, a file
without a required column, and a cell of the wrong kind: a number column holding text (or
true/false), an int column holding a fraction, a bool column holding anything but
true/false. Empty cells are fine (NaN). A column the schema gained later (one with a
default) that an older file lacks is filled with its default.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pe_bench import paths
from pe_bench.errors import InputError
from pe_bench.results.files import write_atomic
from pe_bench.results.schema import REQUIRED, Schema

def _read_bytes(path: Path, schema: Schema) -> bytes:
    """The bytes of ``path`` if it is a regular file we can read (a FIFO is refused unopened); InputError otherwise."""
    try:
        with paths.open_regular(path) as f:
            return f.read()
    except paths.NotRegularFile as e:
        raise InputError(f"{path} is {paths.kind(e.mode)}, not a regular file; expected the {schema.name} table") \
            from None
    except OSError as e:
        raise InputError(f"{path} {paths.problem(e)}; expected the {schema.name} table") from None


def _record_lines(path: Path, schema: Schema, text: str) -> list[int]:
    """The line each data row starts on; InputError for a cut-off last row or a row of the wrong width."""
    def broken(message: str) -> InputError:
        return InputError(f"{path} is not a valid {schema.name} table: {message}")

    if not text.endswith("\n"):
        raise broken("it ends in the middle of a row (no newline after the last one); an interrupted copy? "
                     "fix or remove its last line")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    width = None
    lines: list[int] = []
    previous = 0
    field_limit = csv.field_size_limit(max(csv.field_size_limit(), len(text)))  # pandas has no limit either
    try:
        for record in reader:
            start, previous = previous + 1, reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line, which pandas skips too
            if width is None:
                width = len(record)
                continue
            if len(record) != width:
                last = reader.line_num == text.count("\n") and len(record) < width
                where = f"row {len(lines) + 1} (line {start})"
                if last:
                    raise broken(f"it ends in the middle of a row: {where} has {len(record)} of the header's "
                                 f"{width} fields; fix or remove its last line")
                raise broken(f"{where} has {len(record)} fields, the header {width}")
            lines.append(start)
    except csv.Error as e:
        if "unexpected end of data" in str(e):
            raise broken("it ends in the middle of a row (inside a quoted field); fix or remove its last "
                         "line") from None
        raise InputError(f"{path} is not a readable CSV (line {reader.line_num}: {e}); expected the {schema.name} "
                         f"table") from None
    finally:
        csv.field_size_limit(field_limit)
    return lines


def _shown(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _is_bool_cell(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return True
    return isinstance(value, str) and value.strip().lower() in ("true", "false")


def _check_types(df: pd.DataFrame, path: Path, schema: Schema, lines: list[int]) -> pd.DataFrame:
    """Every cell of the kind its column declares (empty cells allowed); number columns read as text become numbers."""
    def wrong(position: int, column: str, value: Any, expected: str) -> InputError:
        where = f"row {position + 1}" + (f" (line {lines[position]})" if len(lines) == len(df) else "")
        return InputError(f"{path} is not a valid {schema.name} table: {where} has {_shown(value)} in column "
                          f"{column}, which is not {expected}")

    for column in schema.columns:
        if column.name not in df.columns or column.kind == "text":
            continue
        series = df[column.name]
        if column.kind == "bool":
            if pd.api.types.is_bool_dtype(series):
                continue
            bad = ~(series.isna() | series.map(_is_bool_cell).astype(bool))
            if bad.any():
                position = int(np.flatnonzero(bad.to_numpy())[0])
                raise wrong(position, column.name, series.iloc[position], "true or false")
            continue
        expected = "a whole number" if column.kind == "int" else "a number"
        if pd.api.types.is_bool_dtype(series):
            bad = series.notna()
            values = series
        elif pd.api.types.is_numeric_dtype(series):
            bad = pd.Series(False, index=series.index)
            values = series
        else:
            values = pd.to_numeric(series.map(lambda v: math.nan if isinstance(v, (bool, np.bool_)) else v),
                                   errors="coerce")
            bad = series.notna() & values.isna()
        if column.kind == "int" and not bad.any():
            numbers = values.to_numpy(dtype=float, na_value=math.nan)
            bad = pd.Series(~np.isnan(numbers) & ~(np.isfinite(numbers) & (np.mod(numbers, 1) == 0)),
                            index=series.index)
        if bad.any():
            position = int(np.flatnonzero(bad.to_numpy())[0])
            raise wrong(position, column.name, series.iloc[position], expected)
        if values is not series:
            df[column.name] = values
    return df


def read_table(path: Path, schema: Schema) -> pd.DataFrame:
    """Read a results CSV, validated: names and kinds of its columns, whole rows, a regular readable file.

    Anything else is an InputError naming the file (and the row and column of a bad cell);
    the file is never changed. A column with a default that the file lacks (the schema
    gained it later) is filled with that default.
    """
    data = _read_bytes(path, schema)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a readable CSV (UnicodeDecodeError); expected the {schema.name} "
                         f"table") from None
    if not text.strip():
        raise InputError(f"{path} is not a readable CSV (it is empty); expected the {schema.name} table")
    lines = _record_lines(path, schema, text)
    try:
        df = pd.read_csv(io.BytesIO(data))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not a readable CSV ({type(e).__name__}); expected the {schema.name} table") from None
    absent = [c for c in schema.columns if c.name not in df.columns]
    missing = [c.name for c in absent if c.default is REQUIRED]
    if missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise InputError(f"{path} is not a {schema.name} table: it lacks the columns {shown}")
    df = _check_types(df, path, schema, lines)
    if absent:  # written before the schema gained these columns: they get their defaults
        for column in absent:
            df[column.name] = column.default
        df = df[list(schema.column_names) + [c for c in df.columns if c not in schema.column_names]]
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


def _flags_as_objects(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """``df`` with its flag columns as Python objects: True, False or empty, never upcast to floats."""
    flags = [c.name for c in schema.columns if c.kind == "bool" and c.name in df.columns]
    return df.astype({name: object for name in flags})


def upsert(out_dir: Path, schema: Schema, rows: Iterable[dict]) -> pd.DataFrame:
    """Merge ``rows`` into ``<out_dir>/<schema>.csv``: same key replaces, new key appends.

    An existing file that is not a valid table raises InputError and is left untouched.
    """
    new = pd.DataFrame(list(rows))
    for column in schema.column_names:
        if column not in new.columns:
            new[column] = pd.NA
    path = out_dir / schema.filename
    if path.exists():
        old = read_table(path, schema)
        old = old[~key_strings(old, schema.key).isin(set(key_strings(new, schema.key)))]
        # a flag column empty in the old rows (NaN: a column the schema gained later) would make
        # pandas write the new rows' False as 0.0, which no table reader accepts
        merged = pd.concat([_flags_as_objects(old, schema), _flags_as_objects(new, schema)],
                           ignore_index=True) if len(old) else new
    else:
        merged = new
    extra = [c for c in merged.columns if c not in schema.column_names]
    merged = merged[list(schema.column_names) + extra]
    write_atomic(path, merged.to_csv(index=False))
    return merged
