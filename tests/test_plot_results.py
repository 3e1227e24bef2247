"""``pe-bench plot``'s library call: read a results folder, validate every table, draw what it allows."""

from __future__ import annotations

from pathlib import Path

import matplotlib.figure
import matplotlib.image
import pytest
from figure_tables import COLUMNS, PNG_MAGIC, speed_rows, table, tables

from pe_bench.errors import InputError
from pe_bench.figures import NothingToPlot
from pe_bench.replot import plot_results
from pe_bench.runner import figure_specs

ALL_NAMES = [spec.name for spec in figure_specs()]
ENCODING_FIGURES = tuple(spec.name for spec in figure_specs() if spec.table is None)
#: figure name -> the table it needs
NEEDS = {spec.name: f"{spec.table}.csv" for spec in figure_specs() if spec.table is not None}


def write(folder: Path, names: tuple[str, ...] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables().items():
        if names is None or name in names:
            df.to_csv(folder / f"{name}.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def all_six(tmp_path_factory: pytest.TempPathFactory):
    """One plot_results over all the tables, shared by the tests that only look at its output."""
    results = write(tmp_path_factory.mktemp("results"))
    before = {p.name: p.read_bytes() for p in results.glob("*.csv")}
    return results, before, plot_results(results)


def test_all_nine_tables_draw_all_nineteen_figures_as_valid_pngs(all_six):
    results, _, report = all_six
    assert report.skipped == []
    assert [p.name for p in report.drawn] == [f"{name}.png" for name in ALL_NAMES]
    assert len(report.drawn) == 19
    for path in report.drawn:
        assert path.parent == results / "plots" and path.is_file()
        assert path.read_bytes()[:8] == PNG_MAGIC
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_results_are_left_untouched_and_no_temporary_file_remains(all_six):
    results, before, _ = all_six
    assert {p.name: p.read_bytes() for p in results.glob("*.csv")} == before
    # a folder of pe-bench's tables is pe-bench's (results/recognise.py): its plots/ holds the figures alone
    assert sorted(p.name for p in (results / "plots").iterdir()) == sorted(f"{n}.png" for n in ALL_NAMES)


def test_missing_tables_are_skipped_with_the_table_named_and_encoding_figures_still_drawn(tmp_path: Path):
    results = write(tmp_path / "results", ("speed", "training"))
    report = plot_results(results)
    drawn = {p.stem for p in report.drawn}
    assert drawn == {"speed_ratio", "training_loss", *ENCODING_FIGURES}
    skipped = dict(report.skipped)
    assert set(skipped) == {"ppl_vs_length", "kvcache_decode", "shift_invariance", "precision", "streaming",
                            "task_accuracy_vs_length", "passkey_depth", "flipflop_errors", "attention_entropy_vs_length",
                            "attention_sink_mass", "attention_by_distance", "attention_max_weight", "attention_maps"}
    for name, reason in skipped.items():
        assert NEEDS[name] in reason
    assert not (results / "plots" / "kvcache_decode.png").exists()


def test_a_table_with_no_supported_rows_is_a_skip_not_an_error(tmp_path: Path):
    results = tmp_path / "results"
    results.mkdir()
    table("speed", speed_rows(supported=False)).to_csv(results / "speed.csv", index=False)
    report = plot_results(results)
    skipped = dict(report.skipped)
    assert "speed.csv" in skipped["speed_ratio"] and "supported" in skipped["speed_ratio"]
    assert {p.stem for p in report.drawn} == set(ENCODING_FIGURES)


@pytest.mark.parametrize("content", [
    bytes(range(256)) * 4,  # not text at all
    b"a,b,c\n1,2,3\n",  # a CSV, but not a speed table
], ids=["random-bytes", "wrong-columns"])
def test_a_garbage_table_is_a_one_line_input_error_and_stays_byte_for_byte(tmp_path: Path, content: bytes):
    results = write(tmp_path / "results", ("training",))
    (results / "speed.csv").write_bytes(content)
    with pytest.raises(InputError) as error:
        plot_results(results)
    message = str(error.value)
    assert "speed" in message and "\n" not in message
    assert (results / "speed.csv").read_bytes() == content
    assert not (results / "plots").exists()  # every table is read before any figure is drawn


def test_a_missing_folder_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="does not exist"):
        plot_results(tmp_path / "nowhere")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(InputError, match="does not exist"):
        plot_results(tmp_path / "a-file")


def test_an_empty_folder_is_nothing_to_plot_not_an_input_error(tmp_path: Path):
    with pytest.raises(NothingToPlot) as error:
        plot_results(tmp_path)
    assert not isinstance(error.value, InputError)
    message = str(error.value)
    assert "\n" not in message
    for name in COLUMNS:
        assert f"{name}.csv" in message
    assert not (tmp_path / "plots").exists()


def test_svg_format_writes_svg_files_to_the_folder_asked_for(tmp_path: Path):
    results = write(tmp_path / "results", ("shift",))
    out = tmp_path / "figures"
    report = plot_results(results, out=out, fmt="svg")
    assert {p.name for p in report.drawn} == {"shift_invariance.svg", *(f"{n}.svg" for n in ENCODING_FIGURES)}
    for path in report.drawn:
        assert path.parent == out
        assert b"<svg" in path.read_bytes()[:2000]
    assert not (results / "plots").exists()


def test_an_unknown_format_is_a_one_line_input_error_naming_the_valid_ones(tmp_path: Path):
    results = write(tmp_path / "results", ("training",))
    with pytest.raises(InputError) as error:
        plot_results(results, fmt="jpg")
    message = str(error.value)
    assert "jpg" in message and "png" in message and "svg" in message and "\n" not in message
    assert not (results / "plots").exists()
