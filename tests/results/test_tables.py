"""Result tables: typed schemas fill rows, reads validate (names, kinds, whole rows, regular files), rows
merge by key.

The tests run as root, for whom chmod does not stop a read: an unreadable table is simulated
by making ``os.open`` raise PermissionError for its path.
"""

import builtins
import errno
import io
import math
import os
from pathlib import Path

import pandas as pd
import pytest

from pe_bench.errors import InputError
from pe_bench.results.schema import OUTCOME_COLUMNS, Schema, flag, integer, number, text
from pe_bench.results.tables import read_table, upsert

from file_faults import deadline


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
    (b"a,b\n1,2\n", "lacks the columns encoding, seq_len$"),  # only the required ones: the rest have defaults
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


HEADER = b"encoding,seq_len,ms,method,supported,note\n"


def refused_and_untouched(tmp_path, content: bytes, message: str) -> None:
    """``content`` as toy.csv: read_table and upsert refuse it with ``message``; the file is left as it was."""
    path = tmp_path / "toy.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as error:
        read_table(path, TABLE)
    assert "\n" not in str(error.value) and str(path) in str(error.value)
    with pytest.raises(InputError, match=message):
        upsert(tmp_path, TABLE, [TABLE.row(encoding="rope", seq_len=16)])
    assert path.read_bytes() == content


@pytest.mark.parametrize("rows,message", [
    (b"rope,16,fast,,True,\n", r"row 1 \(line 2\) has 'fast' in column ms, which is not a number"),
    (b"rope,16,1.0,,True,\nrope,32,True,,True,\n", r"row 2 \(line 3\) has 'True' in column ms, which is not a number"),
    (b"rope,sixteen,1.0,,True,\n", r"row 1 \(line 2\) has 'sixteen' in column seq_len, which is not a whole number"),
    (b"rope,16.5,1.0,,True,\n", r"has '16.5' in column seq_len, which is not a whole number"),
    (b"rope,16,1.0,,yes,\n", r"row 1 \(line 2\) has 'yes' in column supported, which is not true or false"),
    (b"rope,16,1.0,,1,\n", r"has '1' in column supported, which is not true or false"),
    (b'rope,16,1.0,,True,"two\nlines"\nrope,32,x,,True,\n', r"row 2 \(line 4\) has 'x' in column ms"),
])
def test_a_cell_of_the_wrong_kind_names_file_row_and_column(tmp_path, rows, message):
    refused_and_untouched(tmp_path, HEADER + rows, message)


def test_a_long_note_is_fine(tmp_path):
    upsert(tmp_path, TABLE, [TABLE.row(encoding="rope", seq_len=16, note="x" * 200_000)])
    assert len(read_table(tmp_path / "toy.csv", TABLE)["note"].iloc[0]) == 200_000


def test_empty_cells_and_every_spelling_of_true_and_false_are_fine(tmp_path):
    path = tmp_path / "toy.csv"
    path.write_bytes(HEADER + b"rope,16,,,true,\nrope,,1e3,,FALSE,\nalibi,32.0,inf,x,,note\n")
    df = read_table(path, TABLE)
    assert len(df) == 3 and math.isnan(df["ms"].iloc[0]) and df["ms"].iloc[1] == 1000.0
    assert math.isnan(df["seq_len"].iloc[1]) and df["seq_len"].iloc[2] == 32


@pytest.mark.parametrize("content", [
    HEADER + b"rope,16,1.0,,True,\nrope,32,1.",  # cut in the middle of its last row
    HEADER + b"rope,16,1.0,,True,\nrope,32,1.0\n",  # a last row with fewer fields than the header
    HEADER + b'rope,16,1.0,,True,"a note cut\n',  # cut inside a quoted cell
    HEADER[:-1],  # the header alone, cut before its newline
])
def test_a_table_that_ends_in_the_middle_of_a_row_is_refused(tmp_path, content):
    refused_and_untouched(tmp_path, content, "ends in the middle of a row")


def test_a_row_of_the_wrong_width_is_refused(tmp_path):
    short, long = HEADER + b"rope,16\nrope,32,1.0,,True,\n", HEADER + b"rope,16,1.0,,True,,extra\n"
    refused_and_untouched(tmp_path, short, r"row 1 \(line 2\) has 2 fields, the header 6")
    refused_and_untouched(tmp_path, long, r"row 1 \(line 2\) has 7 fields, the header 6")


def test_a_fifo_is_refused_without_being_read(tmp_path):
    """compare used to hang forever on a FIFO speed.csv."""
    os.mkfifo(tmp_path / "toy.csv")
    with deadline(), pytest.raises(InputError, match=r"toy\.csv is a FIFO, not a regular file"):
        read_table(tmp_path / "toy.csv", TABLE)
    with deadline(), pytest.raises(InputError, match="is a FIFO"):
        upsert(tmp_path, TABLE, [TABLE.row(encoding="rope", seq_len=16)])


def test_a_folder_is_refused(tmp_path):
    (tmp_path / "toy.csv").mkdir()
    with pytest.raises(InputError, match=r"toy\.csv is a folder, not a regular file"):
        read_table(tmp_path / "toy.csv", TABLE)


def test_an_unreadable_table_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "toy.csv"
    upsert(tmp_path, TABLE, [TABLE.row(encoding="rope", seq_len=16)])

    def wrap(function):
        def denied(target, *args, **kwargs):
            if isinstance(target, (str, os.PathLike)) and os.fspath(target) == str(path):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return function(target, *args, **kwargs)
        return denied

    for module, name in ((os, "open"), (builtins, "open"), (io, "open")):
        monkeypatch.setattr(module, name, wrap(getattr(module, name)))
    with pytest.raises(InputError, match=r"toy\.csv cannot be read \(permission denied\)"):
        read_table(path, TABLE)


def test_a_column_added_to_the_schema_later_is_filled_with_its_default(tmp_path):
    """An older file lacks method, supported and note (they have defaults): read, filled, merged by key."""
    keyed = Schema("toy", columns=(text("encoding"), integer("seq_len"), number("ms"), integer("stride", 0),
                                   flag("supported", True)),
                   key=("encoding", "seq_len", "stride"))
    path = tmp_path / "toy.csv"
    path.write_bytes(b"encoding,seq_len,ms\nrope,16,1.0\n")
    df = read_table(path, keyed)
    assert list(df.columns) == ["encoding", "seq_len", "ms", "stride", "supported"]
    assert df["stride"].tolist() == [0] and df["supported"].tolist() == [True]
    upsert(tmp_path, keyed, [keyed.row(encoding="rope", seq_len=16, ms=2.0)])  # same key, stride 0: replaced
    merged = pd.read_csv(path)
    assert merged["ms"].tolist() == [2.0] and merged["stride"].tolist() == [0]
    path.write_bytes(b"seq_len,ms\n16,1.0\n")  # a required column missing is still refused
    with pytest.raises(InputError, match="lacks the columns encoding$"):
        read_table(path, keyed)


def test_the_committed_tables_still_load():
    from pe_bench.runner import load_tables

    root = Path(__file__).resolve().parents[2] / "results"
    for folder in (root, root / "quick"):
        tables = load_tables(folder)
        assert {"speed", "extrapolation"} <= set(tables), folder
        assert pd.api.types.is_float_dtype(tables["speed"]["ms_median"])


def test_a_flag_column_the_old_rows_lack_stays_true_or_false_in_the_new_ones(tmp_path):
    """A fresh clone's committed speed.csv predates the ``noisy`` column: merging the quick start's rows
    into it once wrote False as 0.0, and the next read refused the table."""
    gained = Schema("toy", columns=(*TABLE.columns, flag("noisy", math.nan)), key=TABLE.key)
    upsert(tmp_path, TABLE, [TABLE.row(encoding="nope", seq_len=16, ms=1.0)])  # written before the column
    upsert(tmp_path, gained, [gained.row(encoding="rope", seq_len=16, ms=1.0, noisy=False),
                              gained.row(encoding="alibi", seq_len=16, ms=1.0, noisy=True)])
    df = read_table(tmp_path / "toy.csv", gained)
    assert (tmp_path / "toy.csv").read_text().splitlines()[2].endswith(",False")
    noisy = df.set_index("encoding")["noisy"]
    assert pd.isna(noisy["nope"]) and str(noisy["rope"]) == "False" and str(noisy["alibi"]) == "True"
