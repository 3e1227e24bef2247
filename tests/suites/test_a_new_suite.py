"""A new suite is one module plus one registry line: the runner, summary, report and figures
pick it up unchanged. The toy suite below is everything such a module declares."""

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pytest
from matplotlib.figure import Figure
from rich.table import Table

from pe_bench import runner
from pe_bench.figures.common import FigureSpec
from pe_bench.options import at_least, check_int
from pe_bench.results.summary import decimal
from pe_bench.results.schema import OUTCOME_COLUMNS, RUN_COLUMNS, Schema, integer, number, text
from pe_bench.runtime import make_runtime
from pe_bench.suite import Option, RunContext, Suite, SummaryPart, with_nope
from pe_bench.suites import SUITES


@dataclass(frozen=True)
class ToySettings:
    size: int
    seed: int = 0


TOY = Schema("toy", columns=(text("encoding"), integer("size"), number("value"), *OUTCOME_COLUMNS, *RUN_COLUMNS),
             key=("encoding", "size"))


def measure(encodings: tuple[str, ...], settings: ToySettings, ctx: RunContext) -> Iterator[tuple[Schema, list]]:
    yield TOY, [TOY.row(encoding=name, size=settings.size, value=float(len(name) * settings.size),
                        **ctx.runtime.record()) for name in with_nope(encodings)]


def draw(toy: pd.DataFrame) -> Figure:
    fig = Figure()
    fig.subplots().bar(toy["encoding"], toy["value"])
    return fig


SUITE = Suite(
    name="toy", description="a suite written in a test", tables=(TOY,),
    options=(Option("size", "how big", at_least(1), type=int),),
    presets={"tiny": ToySettings(2), "quick": ToySettings(3), "standard": ToySettings(4)},
    validate=lambda s: check_int(s.size, "--size"),
    run=measure,
    render=lambda tables: Table(title="toy"),
    selects=lambda s, runtime: {"toy": {"size": s.size}},
    summary=SummaryPart(columns=("toy_value",),
                        compute=lambda tables, name: {"toy_value": tables["toy"].set_index("encoding")
                                                      .loc[name, "value"]} if "toy" in tables else {},
                        display=(("toy", lambda r: decimal(r["toy_value"])),), legend="*toy*: a test value."),
    figures=(FigureSpec("toy_bars", "toy", draw),),
)


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(SUITES, "toy", SUITE)  # the one registry line


def test_the_runner_summary_report_and_figures_take_a_new_suite_unchanged(registered, tmp_path):
    run_plan = runner.plan(("rope",), ("toy",), "tiny", make_runtime("cpu"), tmp_path, overrides={"size": 5})
    runner.execute(run_plan)
    done = runner.finish(run_plan)
    assert pd.read_csv(tmp_path / "toy.csv")["value"].tolist() == [20.0, 20.0]  # nope, rope: 4 letters x 5
    assert done.summary.set_index("encoding").loc["rope", "toy_value"] == 20.0
    assert "*toy*: a test value." in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "plots" / "toy_bars.png").stat().st_size > 0
    assert runner.plot_results(tmp_path).drawn  # reading the folder back knows the new table too
    with pytest.raises(Exception, match="--size must be >= 1"):
        runner.plan(("rope",), ("toy",), "tiny", make_runtime("cpu"), tmp_path / "x", overrides={"size": 0})
