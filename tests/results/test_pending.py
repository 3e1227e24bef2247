"""Rows another rank of a sweep finished, kept on disk until rank 0 writes them: a run cut off keeps them."""

import math

import numpy as np
import pytest

from pe_bench.errors import InputError
from pe_bench.results import pending
from pe_bench.results.schema import OUTCOME_COLUMNS, Schema, integer, number, text
from pe_bench.results.tables import read_table, upsert

TABLE = Schema("toy", columns=(text("encoding"), integer("seq_len"), number("ppl"), *OUTCOME_COLUMNS),
               key=("encoding", "seq_len"))
SCHEMAS = {"toy": TABLE}


def rows(encoding: str, *lens: int) -> list[dict]:
    return [TABLE.row(encoding=encoding, seq_len=n, ppl=np.float64(n / 4)) for n in lens]


def test_kept_rows_are_merged_into_their_table_and_the_files_removed(tmp_path):
    upsert(tmp_path, TABLE, rows("rope", 16) + [TABLE.row(encoding="alibi", seq_len=16, ppl=9.0)])
    pending.keep(pending.path_for(tmp_path, "extrapolation", 0, 1), [(TABLE, rows("alibi", 16, 32))])
    pending.keep(pending.path_for(tmp_path, "extrapolation", 1, 3),
                 [(TABLE, [TABLE.row(encoding="nope", seq_len=16, supported=False, note="why")])])
    assert pending.merge(tmp_path, SCHEMAS) == 3
    table = read_table(tmp_path / "toy.csv", TABLE).set_index(["encoding", "seq_len"])
    assert len(table) == 4 and table.loc[("alibi", 16), "ppl"] == 4.0  # the kept row replaced the old one
    assert table.loc[("alibi", 32), "ppl"] == 8.0 and table.loc[("rope", 16), "ppl"] == 4.0
    assert math.isnan(table.loc[("nope", 16), "ppl"]) and not table.loc[("nope", 16), "supported"]
    assert not (tmp_path / pending.FOLDER).exists()
    assert pending.merge(tmp_path, SCHEMAS) == 0  # nothing left: a second run merges nothing


def test_keeping_again_rewrites_the_whole_phase_and_forget_removes_only_that_phase(tmp_path):
    first = pending.path_for(tmp_path, "tasks", 0, 1)
    pending.keep(first, [(TABLE, rows("rope", 16))])
    pending.keep(first, [(TABLE, rows("rope", 16)), (TABLE, rows("rope", 32)), (TABLE, [])])
    later = pending.path_for(tmp_path, "tasks", 1, 1)
    pending.keep(later, [(TABLE, rows("alibi", 16))])
    pending.forget(tmp_path, "tasks", 0)
    assert not first.exists() and later.exists()
    assert pending.merge(tmp_path, SCHEMAS) == 1
    pending.keep(first, [(TABLE, rows("rope", 16)), (TABLE, rows("rope", 32))])
    assert pending.merge(tmp_path, SCHEMAS) == 2


def test_a_file_that_holds_no_kept_rows_is_refused_before_any_table_changes(tmp_path):
    pending.keep(pending.path_for(tmp_path, "extrapolation", 0, 1), [(TABLE, rows("alibi", 16))])
    broken = pending.path_for(tmp_path, "extrapolation", 0, 2)
    broken.write_text('[{"table": "toy", "rows": [')
    with pytest.raises(InputError, match="holds no rows pe-bench kept.*move it out"):
        pending.merge(tmp_path, SCHEMAS)
    assert not (tmp_path / "toy.csv").exists() and broken.exists()  # nothing written, nothing removed
    broken.write_text('[{"table": "unknown", "rows": []}]')
    with pytest.raises(InputError, match="KeyError"):
        pending.merge(tmp_path, SCHEMAS)


def test_a_value_json_cannot_hold_is_a_programming_error(tmp_path):
    with pytest.raises(TypeError, match="cannot be kept as JSON"):
        pending.keep(pending.path_for(tmp_path, "x", 0, 1), [(TABLE, [{"encoding": object()}])])
    assert not pending.path_for(tmp_path, "x", 0, 1).exists()
