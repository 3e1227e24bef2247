"""What a results table is: its typed columns and the columns that key a row.

A suite declares each table it writes as a ``Schema``: the file name, the columns in order
(each with a kind and, for measured values, a default), and the key columns. ``Schema.row``
fills a row from what was measured plus the defaults, so no suite lists its columns twice;
``tables.py`` reads a table back against its schema and merges rows by key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

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
#: the key columns of the machine a run measured on: every row of one run shares them
MACHINE_KEY = ("device", "dtype", "threads")
#: every measurement row says whether it could run here, and why not
OUTCOME_COLUMNS = (flag("supported", True), text("note", ""))


@dataclass(frozen=True)
class Schema:
    """A results table: its name (the file is ``<name>.csv``), its columns in order, its key columns.

    ``run_key`` names the key columns every row of one run shares (the preset, the device,
    the seeds...): their values come from the suite's ``run_values``, and from them both
    ``--resume`` and the rows a report selects follow; the other key columns vary within a run.
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    run_key: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [k for k in self.key if k not in self.column_names]
        if unknown:
            raise ValueError(f"schema {self.name}: key columns {unknown} are not columns")
        if not set(self.run_key) <= set(self.key):
            raise ValueError(f"schema {self.name}: run_key columns {sorted(set(self.run_key) - set(self.key))} "
                             "are not key columns")

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
