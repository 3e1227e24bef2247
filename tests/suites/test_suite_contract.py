"""What every registered suite promises, checked on the tiny preset; a new suite is covered for free.

- its rows match its schemas (columns in order, one row per key);
- ``--resume`` runs no model at all when every row is saved;
- a table of its that is not a valid CSV stops the run before any work and is left untouched;
- its options, summary part and figures are declared consistently.
"""

from pathlib import Path

import pandas as pd
import pytest

from pe_bench.errors import InputError
from pe_bench.model import Transformer
from pe_bench.runner import execute, finish, plan
from pe_bench.runtime import make_runtime
from pe_bench.suites import SUITES
from pe_bench.results.folder import MARKER, claim
from pe_bench.results.tables import key_strings

from conftest import ALL_SUITES

RUNTIME = make_runtime("cpu")
ENCODINGS = ("rope",)  # NoPE joins where a ratio needs it


@pytest.fixture(scope="module", params=ALL_SUITES)
def finished(request, tmp_path_factory) -> tuple[str, Path, dict[str, pd.DataFrame]]:
    name = request.param
    out = tmp_path_factory.mktemp(name)
    rows = execute(plan(ENCODINGS, (name,), "tiny", RUNTIME, out))
    return name, out, rows


def test_rows_match_the_schemas_and_keys_are_unique(finished):
    name, out, rows = finished
    suite = SUITES[name]
    assert {schema.name for schema in suite.tables} == set(rows)  # every declared table was written
    for schema in suite.tables:
        saved = pd.read_csv(out / schema.filename)
        assert list(saved.columns) == list(schema.column_names)
        assert len(saved) == len(rows[schema.name]) > 0
        assert not key_strings(saved, schema.key).duplicated().any()


def test_resume_runs_no_model_when_every_row_is_saved(finished, monkeypatch):
    name, out, _ = finished
    before = {schema.name: (out / schema.filename).read_text() for schema in SUITES[name].tables}
    calls = []
    real_forward = Transformer.forward

    def counting_forward(self, *args, **kwargs):  # noqa: ANN001, ANN202
        calls.append(1)
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(Transformer, "forward", counting_forward)
    execute(plan(ENCODINGS, (name,), "tiny", RUNTIME, out, resume=True))
    assert not calls
    for schema in SUITES[name].tables:
        assert (out / schema.filename).read_text() == before[schema.name]


def test_the_summary_and_the_report_come_from_its_rows(finished):
    name, out, _ = finished
    done = finish(plan(ENCODINGS, (name,), "tiny", RUNTIME, out), draw_plots=False)
    part = SUITES[name].summary
    rope = done.summary.set_index("encoding").loc["rope", list(part.columns)]
    assert rope.notna().any()  # the suite contributed something for the encoding it measured
    assert (out / "summary.md").read_text().count(part.legend) == 1


@pytest.mark.parametrize("name", ALL_SUITES)
def test_a_garbage_table_stops_the_run_before_any_work_and_is_left_untouched(name, tmp_path):
    for schema in SUITES[name].tables:
        out = tmp_path / schema.name
        claim(out)  # a pe-bench folder whose table someone damaged
        garbage = b"\x00\xff not a table \x01\n"
        (out / schema.filename).write_bytes(garbage)
        with pytest.raises(InputError, match=schema.filename):
            plan(ENCODINGS, (name,), "tiny", RUNTIME, out)
        assert (out / schema.filename).read_bytes() == garbage
        assert sorted(p.name for p in out.iterdir()) == sorted([schema.filename, MARKER])


@pytest.mark.parametrize("name", ALL_SUITES)
def test_declarations_are_consistent(name):
    suite = SUITES[name]
    for preset, settings in suite.presets.items():
        suite.validate(settings)  # every preset is valid as shipped
        for option in suite.options:
            assert hasattr(settings, option.name), f"{name}: option {option.name} is not a settings field"
        assert hasattr(settings, "seeds" if suite.trains else "seed")
    assert set(suite.selects(suite.presets["tiny"], RUNTIME)) <= {s.name for s in suite.tables}
    assert {spec.table for spec in suite.figures} <= {s.name for s in suite.tables}
    assert len({c for c in suite.summary.columns}) == len(suite.summary.columns)
    assert suite.summary.legend and suite.description
