"""pe_bench.figures and figures/common.py: colours from the registry, draw_figures' files, skips and errors."""

from __future__ import annotations

import colorsys
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.colors
import matplotlib.figure
import matplotlib.image
import pandas as pd
import pytest

from pe_bench.encodings.plugins import BUILT_IN
from figure_tables import PNG_MAGIC, speed_rows, table, tables

from pe_bench.encodings import ENCODINGS, Family, base_encodings
from pe_bench.encodings.nope import NoPE
from pe_bench.encodings.rope import RoPE
from pe_bench.errors import InputError
from pe_bench.figures import FigureSpec, NoUsableRows, PlotReport, colour, common, draw_figures
from pe_bench.figures import encodings as encoding_figures
from pe_bench.suites.extrapolation import figures as extrapolation
from pe_bench.suites.kvcache import figures as kvcache
from pe_bench.suites.speed import figures as speed
from pe_bench.suites.tasks import figures as tasks
from pe_bench.figures.common import line_style, order

ALL_SPECS: tuple[FigureSpec, ...] = (*speed.FIGURES, *kvcache.FIGURES, *extrapolation.FIGURES, *tasks.FIGURES,
                                     *encoding_figures.FIGURES)
ENCODING_FIGURES = ("encoding_sinusoidal", "encoding_qk_decay", "encoding_t5_buckets", "encoding_alibi_bias")
#: the colours the six built-in encodings had when they were typed into plots.py by hand
BUILT_IN_COLOURS = {"sinusoidal": "#1f77b4", "learned": "#ff7f0e", "t5": "#2ca02c", "rope": "#d62728",
                    "alibi": "#9467bd", "nope": "#7f7f7f"}
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
         "#17becf")
PLUGIN_NAMES = ("my-plugin-pe", "kerple", "cope-2", "rope-2d", "sandwich-2d", "old-row-encoding", "user-pe-7")


def _same_hue(a: str, b: str) -> bool:
    """Whether two colours have the same hue (up to rounding to hex): one is a shade of the other."""
    ha, hb = (colorsys.rgb_to_hsv(*matplotlib.colors.to_rgb(c))[0] for c in (a, b))
    distance = abs(ha - hb)
    return min(distance, 1 - distance) < 0.02  # hue is an angle: 0.999 and 0.0 are neighbours


# ---------------------------------------------------------------- colours


def test_the_six_built_in_encodings_keep_their_colours_and_solid_lines():
    assert {name: colour(name) for name in BUILT_IN_COLOURS} == BUILT_IN_COLOURS
    assert all(line_style(name)["linestyle"] == "-" for name in base_encodings())


def test_every_registered_encoding_and_variant_has_its_own_colour():
    names = list(ENCODINGS)
    assert len(names) > len(base_encodings())  # the RoPE variants are in the registry too
    assert len({colour(name) for name in names}) == len(names)


def test_a_variant_is_a_shade_of_its_parent_with_its_own_broken_line():
    variants = [name for name, cls in ENCODINGS.items() if cls.variant_of is not None]
    assert variants
    for name in variants:
        parent = ENCODINGS[name].variant_of
        assert colour(name) != colour(parent)
        assert _same_hue(colour(name), colour(parent))  # darker or lighter
        assert line_style(name)["linestyle"] != "-"
    styles = [str(line_style(name)["linestyle"]) for name in variants if ENCODINGS[name].variant_of == "rope"]
    assert len(set(styles)) == len(styles)
    assert line_style("rope-pi")["linestyle"] == "--"  # as before the colours were derived


def test_an_unknown_name_has_the_same_colour_in_two_processes_and_none_of_the_built_ins():
    script = ("from pe_bench.figures.common import colour; "
              f"print(' '.join(colour(n) for n in {PLUGIN_NAMES!r}))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}  # so hash() would differ per process

    def colours_in_a_new_process() -> list[str]:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
        return done.stdout.split()

    first, second = colours_in_a_new_process(), colours_in_a_new_process()
    assert first == second == [colour(n) for n in PLUGIN_NAMES]
    registered = {colour(name) for name in ENCODINGS}
    assert not set(first) & registered
    assert len(set(first)) > 1  # spread over the palette, not one fallback colour
    assert line_style("kerple") == {"color": colour("kerple"), "linestyle": "-", "label": "kerple"}


def test_newly_registered_encodings_get_the_next_free_colours_without_an_edit(monkeypatch):
    class NewPE(RoPE):
        name = "new-pe"
        variant_of = None

    class NewPEVariant(NewPE):
        name = "new-pe-long"
        variant_of = "new-pe"

    class SecondBaseline(NoPE):
        name = "other-none"

    class ThirdPE(RoPE):
        name = "third-pe"
        variant_of = None

    registry = {**ENCODINGS, "new-pe": NewPE, "new-pe-long": NewPEVariant, "other-none": SecondBaseline,
                "third-pe": ThirdPE}
    monkeypatch.setattr(common, "ENCODINGS", registry)
    monkeypatch.setattr(common, "ORIGINS", {**common.ORIGINS, **dict.fromkeys(registry, BUILT_IN)})  # new built-ins
    assert {name: colour(name) for name in BUILT_IN_COLOURS} == BUILT_IN_COLOURS
    taken = {colour(name) for name in ENCODINGS if ENCODINGS[name].variant_of is None}
    # the next palette colours after those the built-ins take (the first baseline has the grey)
    free = [c for c in common.PALETTE if c not in taken]
    assert [colour("new-pe"), colour("other-none"), colour("third-pe")] == free[:3]
    assert SecondBaseline.family is Family.NONE
    assert _same_hue(colour("new-pe-long"), free[0]) and colour("new-pe-long") != free[0]
    assert len({colour(name) for name in registry}) == len(registry)
    assert not set(free[:3]) & {colour(n) for n in PLUGIN_NAMES}  # never a registered colour
    assert order(["zz", "new-pe-long", "aa", "new-pe", "nope"]) == ["nope", "new-pe", "new-pe-long", "aa", "zz"]


def test_the_baseline_is_grey_because_of_its_family_not_its_name(monkeypatch):
    class Baseline(NoPE):
        name = "baseline"

    registry = {name: cls for name, cls in ENCODINGS.items() if name != "nope"}
    monkeypatch.setattr(common, "ENCODINGS", {**registry, "baseline": Baseline})
    monkeypatch.setattr(common, "ORIGINS", {**common.ORIGINS, "baseline": BUILT_IN})
    assert colour("baseline") == "#7f7f7f"
    assert colour("rope") == "#d62728"


def test_order_is_registry_order_then_unknown_names_alphabetically():
    unknown = ["zeta", "mu", "alpha", "kappa", "beta", "omega"]  # enough that a set's order is not sorted by luck
    assert order([*unknown, "nope", "rope-pi", "rope", "sinusoidal", "rope"]) == \
        ["sinusoidal", "rope", "nope", "rope-pi", *sorted(unknown)]


# ---------------------------------------------------------------- draw_figures


@pytest.fixture(scope="module")
def all_six(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pd.DataFrame], PlotReport]:
    """One draw_figures of every spec over all the tables, shared by the tests that only look at its output."""
    data = tables()
    before = {name: df.copy() for name, df in data.items()}
    out = tmp_path_factory.mktemp("plots")
    return out, before, draw_figures(data, ALL_SPECS, out, source="the test")


def test_all_seven_tables_draw_all_fourteen_figures_as_valid_pngs(all_six):
    out, _, report = all_six
    assert report.skipped == []
    assert [p.name for p in report.drawn] == [f"{spec.name}.png" for spec in ALL_SPECS]
    assert len(report.drawn) == 14
    for path in report.drawn:
        assert path.parent == out and path.is_file()
        assert path.read_bytes()[:8] == PNG_MAGIC
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_the_tables_are_left_untouched_and_no_temporary_file_remains(all_six):
    out, before, _ = all_six
    data = tables()
    for name, df in before.items():
        pd.testing.assert_frame_equal(df, data[name])
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{spec.name}.png" for spec in ALL_SPECS)


def test_the_figure_names_are_the_ones_results_folders_already_hold():
    assert [spec.name for spec in ALL_SPECS] == [
        "speed_ratio", "kvcache_decode", "shift_invariance", "precision", "ppl_vs_length", "streaming",
        "training_loss", "task_accuracy_vs_length", "passkey_depth", "flipflop_errors", *ENCODING_FIGURES]
    assert {spec.name: spec.table for spec in ALL_SPECS if spec.table} == {
        "speed_ratio": "speed", "kvcache_decode": "kvcache", "shift_invariance": "shift", "precision": "precision",
        "ppl_vs_length": "extrapolation", "streaming": "extrapolation", "training_loss": "training",
        "task_accuracy_vs_length": "tasks", "passkey_depth": "tasks", "flipflop_errors": "tasks"}


def test_only_the_specs_given_are_drawn_and_missing_tables_are_skipped_with_the_source_named(tmp_path: Path):
    data = tables()
    specs = (*speed.FIGURES, *kvcache.FIGURES, *encoding_figures.FIGURES[:1])
    report = draw_figures({"speed": data["speed"]}, specs, tmp_path, source="runs/a")
    assert [p.name for p in report.drawn] == ["speed_ratio.png", "encoding_sinusoidal.png"]
    assert report.skipped == [("kvcache_decode", "no kvcache.csv in runs/a"),
                              ("shift_invariance", "no shift.csv in runs/a"),
                              ("precision", "no precision.csv in runs/a")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["encoding_sinusoidal.png", "speed_ratio.png"]


def test_a_table_with_no_supported_rows_is_a_skip_not_an_error(tmp_path: Path):
    report = draw_figures({"speed": table("speed", speed_rows(supported=False))}, ALL_SPECS, tmp_path)
    skipped = dict(report.skipped)
    assert "speed.csv" in skipped["speed_ratio"] and "supported" in skipped["speed_ratio"]
    assert {p.stem for p in report.drawn} == set(ENCODING_FIGURES)


def test_a_spec_that_raises_no_usable_rows_is_skipped_with_its_message(tmp_path: Path):
    def nothing(rows: pd.DataFrame) -> matplotlib.figure.Figure:
        raise NoUsableRows("mine.csv has no rows I can draw")

    report = draw_figures({"mine": pd.DataFrame()}, (FigureSpec("mine", "mine", nothing),), tmp_path)
    assert report.drawn == [] and report.skipped == [("mine", "mine.csv has no rows I can draw")]


def test_svg_format_writes_svg_files(tmp_path: Path):
    report = draw_figures({"shift": tables()["shift"]}, (*kvcache.FIGURES, *encoding_figures.FIGURES), tmp_path,
                          fmt="svg")
    assert {p.name for p in report.drawn} == {"shift_invariance.svg", *(f"{n}.svg" for n in ENCODING_FIGURES)}
    for path in report.drawn:
        assert path.parent == tmp_path and b"<svg" in path.read_bytes()[:2000]


def test_an_unknown_format_is_a_one_line_input_error_naming_the_valid_ones(tmp_path: Path):
    with pytest.raises(InputError) as error:
        draw_figures(tables(), speed.FIGURES, tmp_path / "plots", fmt="jpg")
    message = str(error.value)
    assert "jpg" in message and "png" in message and "svg" in message and "\n" not in message
    assert not (tmp_path / "plots").exists()


def test_a_failed_save_leaves_the_previous_figure_and_no_temporary_file(tmp_path: Path, monkeypatch):
    data = {"training": tables()["training"]}
    old = draw_figures(data, extrapolation.FIGURES, tmp_path).drawn[0]
    previous = old.read_bytes()

    def broken_savefig(self, fname, **kwargs):
        Path(fname).write_bytes(b"half a figure")
        raise OSError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        draw_figures(data, extrapolation.FIGURES, tmp_path)
    assert old.read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["training_loss.png"]


def test_the_figures_import_no_suite_and_no_runner():
    """The suites import the shared figure helpers: an import the other way would be a cycle; and a
    suite's own figures never reach for the runner or the CLI."""
    script = ("import sys, pe_bench.figures, pe_bench.figures.encodings; "
              "print(' '.join(m for m in sys.modules if m.startswith(('pe_bench.suite', 'pe_bench.runner', "
              "'pe_bench.cli'))))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == []
    script = ("import sys, pe_bench.suites.speed.figures, pe_bench.suites.kvcache.figures, "
              "pe_bench.suites.extrapolation.figures, pe_bench.suites.tasks.figures; "
              "print(' '.join(m for m in sys.modules if m.startswith(('pe_bench.runner', 'pe_bench.cli', "
              "'pe_bench.session'))))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == []
