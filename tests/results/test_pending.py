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
    assert pending.merge(tmp_path, SCHEMAS) == {"toy": 3}
    table = read_table(tmp_path / "toy.csv", TABLE).set_index(["encoding", "seq_len"])
    assert len(table) == 4 and table.loc[("alibi", 16), "ppl"] == 4.0  # the kept row replaced the old one
    assert table.loc[("alibi", 32), "ppl"] == 8.0 and table.loc[("rope", 16), "ppl"] == 4.0
    assert math.isnan(table.loc[("nope", 16), "ppl"]) and not table.loc[("nope", 16), "supported"]
    assert not (tmp_path / pending.FOLDER).exists()
    assert pending.merge(tmp_path, SCHEMAS) == {}  # nothing left: a second run merges nothing


def test_keeping_again_rewrites_the_whole_phase_and_forget_removes_only_that_phase(tmp_path):
    first = pending.path_for(tmp_path, "tasks", 0, 1)
    pending.keep(first, [(TABLE, rows("rope", 16))])
    pending.keep(first, [(TABLE, rows("rope", 16)), (TABLE, rows("rope", 32)), (TABLE, [])])
    later = pending.path_for(tmp_path, "tasks", 1, 1)
    pending.keep(later, [(TABLE, rows("alibi", 16))])
    pending.forget(tmp_path, "tasks", 0)
    assert not first.exists() and later.exists()
    pending.forget(tmp_path, "tasks", 1)
    # the folder stays: another rank may be between making it and opening its next phase's file in it
    assert (tmp_path / pending.FOLDER).is_dir()
    pending.remove_if_empty(tmp_path)  # the run's end: nobody else writes there then
    assert not (tmp_path / pending.FOLDER).exists()
    pending.keep(first, [(TABLE, rows("rope", 16)), (TABLE, rows("rope", 32))])
    assert pending.merge(tmp_path, SCHEMAS) == {"toy": 2}


def test_only_files_named_as_kept_rows_count_and_a_rank_discards_only_its_own(tmp_path):
    folder = tmp_path / pending.FOLDER
    pending.keep(pending.path_for(tmp_path, "tasks", 0, 1), [(TABLE, rows("rope", 16))])
    pending.keep(pending.path_for(tmp_path, "tasks", 0, 2), [(TABLE, rows("alibi", 16))])
    (folder / "notes.json").write_text("{}")  # not pe-bench's: never read, merged or removed
    assert not pending.is_kept_name("notes.json") and pending.is_kept_name("tasks-phase0-rank1.json")
    pending.discard(tmp_path, 2)  # rank 2 of a folder no rank 0 reads: its old rows go
    assert sorted(p.name for p in folder.iterdir()) == ["notes.json", "tasks-phase0-rank1.json"]
    assert pending.merge(tmp_path, SCHEMAS) == {"toy": 1}
    assert [p.name for p in folder.iterdir()] == ["notes.json"]
    assert read_table(tmp_path / "toy.csv", TABLE)["encoding"].tolist() == ["rope"]


def test_a_pending_that_is_no_folder_or_holds_a_broken_file_is_refused_before_any_work(tmp_path):
    pending.check(tmp_path, SCHEMAS)  # none yet: fine
    (tmp_path / pending.FOLDER).write_text("mine")
    with pytest.raises(InputError, match="pending is not a folder; pe-bench keeps the rows"):
        pending.check(tmp_path, SCHEMAS)
    (tmp_path / pending.FOLDER).unlink()
    pending.path_for(tmp_path, "tasks", 0, 1).parent.mkdir()
    pending.path_for(tmp_path, "tasks", 0, 1).write_text('{"table": "toy"}')
    with pytest.raises(InputError, match="holds no rows pe-bench kept"):
        pending.check(tmp_path, SCHEMAS)


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
