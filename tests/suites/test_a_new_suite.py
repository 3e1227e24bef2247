"""A new suite is one folder (here: this file) plus one registry line: the runner, the summary,
the report, the figures, --resume and ``pe_bench.run`` pick it up unchanged. The toy suite below
is everything such a folder declares."""

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pytest
from matplotlib.figure import Figure
from rich.table import Table

import pe_bench
from pe_bench.errors import InputError
from pe_bench.figures.common import FigureSpec
from pe_bench.options import check_int, option, options_of
from pe_bench.results import pending
from pe_bench.results.schema import MACHINE_KEY, OUTCOME_COLUMNS, RUN_COLUMNS, Schema, integer, number, text
from pe_bench.results.summary import decimal
from pe_bench.session import Reporter
from pe_bench.suite import RunContext, Suite, SummaryPart, with_nope
from pe_bench.suites import SUITES


@dataclass(frozen=True)
class ToySettings:
    size: int = option("how big")
    seed: int = 0


TOY = Schema("toy", columns=(text("encoding"), integer("size"), number("value"), *OUTCOME_COLUMNS, *RUN_COLUMNS),
             key=("encoding", "size", *MACHINE_KEY), run_key=("size", *MACHINE_KEY))
MEASURED: list[str] = []  # what the toy measured, so that --resume can be seen to skip


def draw(toy: pd.DataFrame) -> Figure:
    fig = Figure()
    fig.subplots().bar(toy["encoding"], toy["value"])
    return fig


class Toy(Suite):
    name = "toy"
    description = "a suite written in a test"
    presets = {"tiny": ToySettings(2), "quick": ToySettings(3), "standard": ToySettings(4)}
    tables = (TOY,)
    summary = SummaryPart(columns=("toy_value",),
                          compute=lambda tables, name: {"toy_value": tables["toy"].set_index("encoding")
                                                        .loc[name, "value"]} if "toy" in tables else {},
                          display=(("toy", lambda r: decimal(r["toy_value"])),), legend="*toy*: a test value.")
    figures = (FigureSpec("toy_bars", "toy", draw),)

    def validate(self, settings: ToySettings) -> None:
        check_int(settings.size, "--size")

    def run(self, encodings: tuple[str, ...], settings: ToySettings, ctx: RunContext) -> Iterator[tuple[Schema, list]]:
        names = [n for n in with_nope(encodings) if not ctx.done(TOY, [{"encoding": n}])]
        MEASURED.extend(names)
        yield TOY, [TOY.row(encoding=name, size=settings.size, value=float(len(name) * settings.size),
                            **ctx.runtime.record()) for name in names]

    def render(self, tables: dict[str, pd.DataFrame]) -> Table:
        return Table(title="toy")

    def run_values(self, settings: ToySettings, runtime) -> dict:  # noqa: ANN001
        return {**super().run_values(settings, runtime), "size": settings.size}


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(SUITES, "toy", Toy())  # the one registry line
    MEASURED.clear()


def test_the_runner_summary_report_figures_and_resume_take_a_new_suite_unchanged(registered, tmp_path):
    done = pe_bench.run("rope", "toy", "tiny", device="cpu", out=tmp_path, size=5)
    assert pd.read_csv(tmp_path / "toy.csv")["value"].tolist() == [20.0, 20.0]  # nope, rope: 4 letters x 5
    assert done.summary.set_index("encoding").loc["rope", "toy_value"] == 20.0
    assert list(done.summary.columns) == ["encoding", "family", "toy_value"]  # the suites that ran, nothing else
    assert "*toy*: a test value." in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "plots" / "toy_bars.png").stat().st_size > 0
    assert pe_bench.plot_results(tmp_path).drawn  # reading the folder back knows the new table too
    assert MEASURED == ["nope", "rope"]
    pe_bench.run("rope", "toy", "tiny", device="cpu", out=tmp_path, size=5, resume=True)
    assert MEASURED == ["nope", "rope"]  # every row saved: nothing measured again
    pe_bench.run("rope", "toy", "tiny", device="cpu", out=tmp_path, size=6, resume=True)
    assert MEASURED == ["nope", "rope"] * 2  # another size is another run
    with pytest.raises(InputError, match="--size must be >= 1"):
        pe_bench.run("rope", "toy", "tiny", device="cpu", out=tmp_path / "x", size=0)


def test_its_options_come_from_its_settings(registered):
    (size,) = options_of(ToySettings)
    assert (size.flag, size.kind, size.help) == ("--size", "int", "how big")
    assert Toy().option_names() == ("size",) and not Toy().trains


def test_a_resume_key_that_drifts_from_the_schema_is_caught(registered, tmp_path):
    pe_bench.run("rope", "toy", "tiny", device="cpu", out=tmp_path)
    ctx = Toy().context(Toy.presets["tiny"], RunContext(pe_bench.make_runtime("cpu")))
    ctx.existing.tables["toy"] = pd.read_csv(tmp_path / "toy.csv")
    assert ctx.done(TOY, [{"encoding": "rope"}])
    with pytest.raises(TypeError, match="schema's key"):
        ctx.done(TOY, [{"encoding": "rope", "value": 1.0}])


def test_rows_a_cut_off_sweeps_other_rank_kept_are_written_before_resume_looks(registered, tmp_path):
    """A sweep's rank 1 keeps its rows in pending/ until rank 0 writes them (ranks.py); a run cut off
    between the two leaves them there, and the next run writes them into the table before anything else."""
    pe_bench.run("rope", "toy", "tiny", device="cpu", out=tmp_path, size=5)
    rope = pd.read_csv(tmp_path / "toy.csv").set_index("encoding").loc["rope"].to_dict()
    pending.keep(pending.path_for(tmp_path, "toy", 0, 1), [(TOY, [{**rope, "encoding": "alibi", "value": 7.0}])])
    told = Told()
    MEASURED.clear()
    pe_bench.run("rope,alibi,xpos", "toy", "tiny", device="cpu", out=tmp_path, size=5, resume=True, reporter=told)
    assert MEASURED == ["xpos"]  # alibi's row was there once the kept rows were written: not measured
    assert pd.read_csv(tmp_path / "toy.csv").set_index("encoding").loc["alibi", "value"] == 7.0
    assert not (tmp_path / pending.FOLDER).exists()
    merged = [measured for notice, measured in told.notices
              if "rows that a cut-off sweep's other ranks had finished are now in the tables: 1" in notice]
    assert merged == [[]]  # told once, as it happened: before the run measured anything
    run = json.loads((tmp_path / "manifest.json").read_text())["runs"][-1]
    assert run["rows_merged"] == {"toy": 1} and run["rows_written"] == {"toy": 1}  # alibi merged; xpos measured


class Told(Reporter):
    """Each notice with what the run had measured when it came."""

    def __init__(self) -> None:
        self.notices: list[tuple[str, list[str]]] = []

    def notice(self, text: str) -> None:
        self.notices.append((text, list(MEASURED)))
