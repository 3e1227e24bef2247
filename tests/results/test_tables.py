"""Result tables: typed schemas fill rows, reads validate, rows merge by key."""

import math

import pandas as pd
import pytest

from pe_bench.errors import InputError
from pe_bench.results.tables import OUTCOME_COLUMNS, Schema, integer, number, read_table, text, upsert

TABLE = Schema("toy", columns=(text("encoding"), integer("seq_len"), number("ms"), text("method", ""),
                               *OUTCOME_COLUMNS),
               key=("encoding", "seq_len"))


def test_a_row_gets_every_column_in_order_with_defaults_for_what_was_not_measured():
    row = TABLE.row(encoding="rope", seq_len=16)
    assert list(row) == ["encoding", "seq_len", "ms", "method", "supported", "note"]
    assert math.isnan(row["ms"]) and row["method"] == "" and row["supported"] is True and row["note"] == ""


def test_a_row_with_an_unknown_column_or_without_a_required_one_is_a_programming_error():
    with pytest.raises(TypeError, match="no columns"):
        TABLE.row(encoding="rope", seq_len=16, msec=1.0)
    with pytest.raises(TypeError, match="needs a value for 'seq_len'"):
        TABLE.row(encoding="rope")


def test_a_key_column_that_is_not_a_column_is_refused_when_the_schema_is_made():
    with pytest.raises(ValueError, match="not columns"):
        Schema("bad", columns=(text("a"),), key=("b",))


def test_upsert_replaces_by_key(tmp_path):
    row = TABLE.row(encoding="rope", seq_len=16, ms=1.0)
    upsert(tmp_path, TABLE, [row])
    upsert(tmp_path, TABLE, [row | {"ms": 2.0}, row | {"seq_len": 32}])
    df = pd.read_csv(tmp_path / "toy.csv")
    assert len(df) == 2 and df.set_index("seq_len").loc[16, "ms"] == 2.0


def test_upsert_handles_empty_key_cells(tmp_path):
    """pandas 3 keeps NaN through astype(str); keys with an empty cell must still match."""
    row = TABLE.row(encoding="rope", seq_len=None, ms=0.0)
    upsert(tmp_path, TABLE, [row])
    upsert(tmp_path, TABLE, [row | {"ms": 1.0}])
    df = pd.read_csv(tmp_path / "toy.csv")
    assert len(df) == 1 and df["ms"].iloc[0] == 1.0


@pytest.mark.parametrize("content,message", [
    (b"\x00\xff garbage \x01", "not a readable CSV"),
    (b"a,b\n1,2\n", "lacks the columns encoding, seq_len, ms, method and 2 more"),
    (b"", "not a readable CSV"),
])
def test_a_file_that_is_not_the_table_is_an_input_error_and_left_untouched(tmp_path, content, message):
    path = tmp_path / "toy.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_table(path, TABLE)
    with pytest.raises(InputError):
        upsert(tmp_path, TABLE, [TABLE.row(encoding="rope", seq_len=16)])
    assert path.read_bytes() == content
