"""Result tables on disk: schemas with typed columns, validated reads, rows merged by key.

A suite declares each table it writes as a ``Schema``: the file name, the columns in order
(each with a kind and, for measured values, a default), and the columns that key a row.
``Schema.row`` fills a row from what was measured plus the defaults, so no suite lists its
columns twice. A later run replaces the rows that have the same key instead of duplicating
them; every write goes through a temporary file and a rename (files.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pe_bench.errors import InputError
from pe_bench.results.files import write_atomic

#: marks a column every row must give (keys, what identifies the measurement)
REQUIRED = object()


@dataclass(frozen=True)
class Column:
    """One column: its name, its kind (text, int, float or bool) and the value a row gets if it gives none."""

    name: str
    kind: str = "float"
    default: Any = REQUIRED


def text(name: str, default: Any = REQUIRED) -> Column:
    return Column(name, "text", default)


def integer(name: str, default: Any = REQUIRED) -> Column:
    return Column(name, "int", default)


def number(name: str, default: Any = math.nan) -> Column:
    """A measured float: NaN until measured."""
    return Column(name, "float", default)


def flag(name: str, default: Any = REQUIRED) -> Column:
    return Column(name, "bool", default)


#: where a row was measured: ``Runtime.record()`` fills these
RUN_COLUMNS = (text("device"), text("dtype"), integer("threads"), text("torch_version"))
#: every measurement row says whether it could run here, and why not
OUTCOME_COLUMNS = (flag("supported", True), text("note", ""))


@dataclass(frozen=True)
class Schema:
    """A results table: its name (the file is ``<name>.csv``), its columns in order, its key columns."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    def __post_init__(self) -> None:
        unknown = [k for k in self.key if k not in self.column_names]
        if unknown:
            raise ValueError(f"schema {self.name}: key columns {unknown} are not columns")

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def row(self, **values: Any) -> dict[str, Any]:
        """A full row: ``values`` plus each missing column's default, in column order.

        A name that is not a column, or a required column left out, is a programming error
        (TypeError), caught by the first test that builds such a row.
        """
        unknown = set(values) - set(self.column_names)
        if unknown:
            raise TypeError(f"{self.name} has no columns {sorted(unknown)}")
        row = {}
        for column in self.columns:
            if column.name in values:
                row[column.name] = values[column.name]
            elif column.default is REQUIRED:
                raise TypeError(f"a {self.name} row needs a value for '{column.name}'")
            else:
                row[column.name] = column.default
        return row

    def key_of(self, row: dict[str, Any]) -> dict[str, Any]:
        """The key columns of ``row``."""
        return {k: row[k] for k in self.key}


def read_table(path: Path, schema: Schema) -> pd.DataFrame:
    """Read a results CSV; a file that is not one (garbage, missing columns) is an InputError."""
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not a readable CSV ({type(e).__name__}); expected the {schema.name} table") from None
    missing = [c for c in schema.column_names if c not in df.columns]
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
    for column in schema.column_names:
        if column not in new.columns:
            new[column] = pd.NA
    path = out_dir / schema.filename
    if path.exists():
        old = read_table(path, schema)
        old = old[~key_strings(old, schema.key).isin(set(key_strings(new, schema.key)))]
        merged = pd.concat([old, new], ignore_index=True) if len(old) else new
    else:
        merged = new
    extra = [c for c in merged.columns if c not in schema.column_names]
    merged = merged[list(schema.column_names) + extra]
    write_atomic(path, merged.to_csv(index=False))
    return merged
