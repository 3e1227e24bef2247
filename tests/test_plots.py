"""Figures from saved tables: every figure drawn, skips with reasons, bad input, atomic files. No timings asserted."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.colors
import matplotlib.figure
import matplotlib.image
import pandas as pd
import torch
import pytest

from pe_bench.encodings import ENCODINGS
from pe_bench.encodings.rope_scaling import ROPE_SCALING
from pe_bench.errors import InputError
from pe_bench.plots import (
    COLOURS,
    FIGURE_NAMES,
    NothingToPlot,
    colour,
    draw_ppl_vs_length,
    draw_speed_ratio,
    draw_training_loss,
    plot_results,
)
from pe_bench.results import EXTRAPOLATION, KVCACHE, PRECISION, SCHEMAS, SHIFT, SPEED, TRAINING, Schema

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ENCODING_FIGURES = ("encoding_sinusoidal", "encoding_qk_decay", "encoding_t5_buckets", "encoding_alibi_bias")
#: figure name -> the table it needs
NEEDS = {"ppl_vs_length": "extrapolation.csv", "speed_ratio": "speed.csv", "kvcache_decode": "kvcache.csv",
         "shift_invariance": "shift.csv", "precision": "precision.csv", "streaming": "extrapolation.csv",
         "training_loss": "training.csv"}
RUN = {"device": "cpu (x86_64)", "dtype": "float32", "threads": 2, "torch_version": "2.13.0+cpu", "preset": "tiny"}


def table(schema: Schema, rows: list[dict]) -> pd.DataFrame:
    """Rows with every column of ``schema``: the run's settings where a row does not say, else empty."""
    full = [{c: row.get(c, RUN.get(c, "")) for c in schema.columns} for row in rows]
    return pd.DataFrame(full, columns=list(schema.columns))


def speed_rows(supported: bool = True) -> list[dict]:
    rows = []
    for encoding, ratio in (("nope", 1.0), ("rope", 1.2), ("alibi", 1.1)):
        for mode in ("inference", "train"):
            for seq_len in (64, 128):
                for backend, ms in (("sdpa", 2.0), ("flex", 3.0)):
                    rows.append({"encoding": encoding, "backend": backend, "mode": mode, "seq_len": seq_len,
                                 "batch_size": 2, "ms_median": ms * ratio, "ratio_vs_nope": ratio,
                                 "supported": supported})
    return rows


def tables() -> dict[str, pd.DataFrame]:
    """Small versions of the six tables a run writes."""
    kvcache = [{"encoding": e, "backend": b, "policy": "full", "positions": "original", "window": 0, "sinks": 0,
                "context_len": n, "cached_ms_per_token": 1.0 + n / 1000, "uncached_ms_per_token": n / 10,
                "supported": True}
               for e in ("rope", "nope") for b in ("sdpa", "eager") for n in (64, 128)]
    shift = [{"encoding": e, "backend": "sdpa", "offset": c, "seq_len": 16, "max_abs_logit_diff": d * c,
              "supported": True}
             for e, d in (("rope", 0.0), ("sinusoidal", 0.1)) for c in (1, 10)]
    shift.append({"encoding": "learned", "backend": "sdpa", "offset": 10, "seq_len": 16, "max_abs_logit_diff": "",
                  "supported": False, "note": "no such position"})
    precision = [{"encoding": e, "position": p, "dtype": dt, "quantity": q, "abs_error": err, "rel_error": err,
                  "device": "cpu"}
                 for e, q in (("rope", "qk"), ("sinusoidal", "table_angles_in_dtype"))
                 for dt in ("float32", "float16")
                 for p, err in ((8, 1e-7), (1024, 1e-4), (65536, math.nan if dt == "float16" else 1e-2))]
    extrapolation = [{"encoding": v.split("-")[0], "variant": v, "task": "lm", "train_len": 16, "eval_len": n,
                      "eval_mode": mode, "stride": 16 if mode == "sliding" else 0, "metric": "ppl",
                      "value": 5.0 + n / 16, "steps": 10, "seed": 0, "supported": True}
                     for v in ("rope", "rope-pi", "alibi") for mode in ("nonoverlap", "sliding") for n in (16, 32)]
    extrapolation += [{"encoding": "learned", "variant": "learned", "task": "lm", "train_len": 16, "eval_len": n,
                       "eval_mode": "nonoverlap", "stride": 0, "metric": "ppl", "value": 6.0 if n == 16 else "",
                       "steps": 10, "seed": 0, "supported": n == 16} for n in (16, 32)]
    extrapolation += [{"encoding": e, "variant": e, "task": "stream", "train_len": 16, "eval_len": 64,
                       "eval_mode": mode, "stride": 0, "metric": "ppl", "value": "" if e == "learned" else 4.0,
                       "steps": 10, "seed": 0, "supported": e != "learned"}
                      for e in ("rope", "learned") for mode in ("full", "window-slot", "sinks-original")]
    training = [{"encoding": e, "step": s, "loss": 5.0 - s / 10, "tokens_per_s": 1000.0, "train_len": 16,
                 "steps": 20, "seed": 0} for e in ("rope", "nope") for s in (10, 20)]
    return {
        "speed": table(SPEED, speed_rows()),
        "kvcache": table(KVCACHE, kvcache),
        "shift": table(SHIFT, shift),
        "precision": table(PRECISION, precision),
        "extrapolation": table(EXTRAPOLATION, extrapolation),
        "training": table(TRAINING, training),
    }


def write(folder: Path, names: tuple[str, ...] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables().items():
        if names is None or name in names:
            df.to_csv(folder / SCHEMAS[name].filename, index=False)
    return folder


@pytest.fixture(scope="module")
def all_six(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes], object]:
    """One plot_results over all six tables, shared by the tests that only look at its output."""
    results = write(tmp_path_factory.mktemp("results"))
    before = {p.name: p.read_bytes() for p in results.glob("*.csv")}
    return results, before, plot_results(results)


def test_all_six_tables_draw_all_eleven_figures_as_valid_pngs(all_six):
    results, _, report = all_six
    assert report.skipped == []
    assert [p.name for p in report.drawn] == [f"{name}.png" for name in FIGURE_NAMES]
    assert len(report.drawn) == 11
    for path in report.drawn:
        assert path.parent == results / "plots" and path.is_file()
        assert path.read_bytes()[:8] == PNG_MAGIC
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_results_are_left_untouched_and_no_temporary_file_remains(all_six):
    results, before, _ = all_six
    assert {p.name: p.read_bytes() for p in results.glob("*.csv")} == before
    assert sorted(p.name for p in (results / "plots").iterdir()) == sorted(f"{n}.png" for n in FIGURE_NAMES)


def test_missing_tables_are_skipped_with_the_table_named_and_encoding_figures_still_drawn(tmp_path: Path):
    results = write(tmp_path / "results", ("speed", "training"))
    report = plot_results(results)
    drawn = {p.stem for p in report.drawn}
    assert drawn == {"speed_ratio", "training_loss", *ENCODING_FIGURES}
    skipped = dict(report.skipped)
    assert set(skipped) == {"ppl_vs_length", "kvcache_decode", "shift_invariance", "precision", "streaming"}
    for name, reason in skipped.items():
        assert NEEDS[name] in reason
    assert not (results / "plots" / "kvcache_decode.png").exists()


def test_a_table_with_no_supported_rows_is_a_skip_not_an_error(tmp_path: Path):
    results = tmp_path / "results"
    results.mkdir()
    table(SPEED, speed_rows(supported=False)).to_csv(results / "speed.csv", index=False)
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
    for schema in SCHEMAS.values():
        assert schema.filename in message
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


def test_a_failed_save_leaves_the_previous_figure_and_no_temporary_file(tmp_path: Path, monkeypatch):
    results = write(tmp_path / "results", ("training",))
    old = plot_results(results).drawn[0]
    previous = old.read_bytes()

    def broken_savefig(self, fname, **kwargs):
        Path(fname).write_bytes(b"half a figure")
        raise OSError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plot_results(results)
    assert old.read_bytes() == previous
    assert [p.name for p in old.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_every_encoding_and_rope_variant_has_its_own_fixed_colour():
    names = [*ENCODINGS, *ROPE_SCALING]
    assert set(names) <= set(COLOURS)
    assert len({COLOURS[name] for name in names}) == len(names)
    assert all(colour(name) == COLOURS[name] for name in names)


def _line_colours(fig: matplotlib.figure.Figure) -> dict[str, str]:
    return {line.get_label(): matplotlib.colors.to_hex(line.get_color()) for ax in fig.axes for line in ax.lines}


def test_an_encoding_has_the_same_colour_in_two_different_figures():
    data = tables()
    ppl_colours = _line_colours(draw_ppl_vs_length(data["extrapolation"]))
    loss_colours = _line_colours(draw_training_loss(data["training"]))
    assert ppl_colours["rope"] == loss_colours["rope"] == matplotlib.colors.to_hex(COLOURS["rope"])
    assert ppl_colours["rope-pi"] == matplotlib.colors.to_hex(COLOURS["rope-pi"]) != ppl_colours["rope"]


def test_several_settings_in_one_table_draw_the_commonest_and_say_so():
    extrapolation = tables()["extrapolation"]
    other = extrapolation.iloc[:2].assign(train_len=8)  # two rows of another training length
    fig = draw_ppl_vs_length(pd.concat([extrapolation, other], ignore_index=True))
    title = fig.get_suptitle()
    vlines = [line for line in fig.axes[0].lines if line.get_label().startswith("training length")]
    assert "trained at 16 tokens" in title and "of 2" in title
    assert [line.get_label() for line in vlines] == ["training length 16"]


@pytest.mark.parametrize("flags", [(True, False), ("True", "False")], ids=["bool", "str"])
def test_supported_may_come_back_as_bools_or_strings(flags):
    rows = speed_rows()
    for row in rows:
        row["supported"] = flags[0] if row["encoding"] != "alibi" else flags[1]
    fig = draw_speed_ratio(table(SPEED, rows).astype({"supported": object}))
    labels = {line.get_label() for line in fig.axes[0].lines}
    assert labels == {"nope", "rope", "same time as NoPE"}


def test_rope_relative_upper_bound_decays_with_distance():
    from pe_bench.plots import rope_relative_upper_bound

    bound = rope_relative_upper_bound(torch.arange(0, 513), head_dim=64)
    # at distance 0 every partial sum |S_j| = j, so the mean is (d/2 + 1) / 2
    assert abs(bound[0].item() - 16.5) < 1e-9
    assert bound[256:].mean() < 0.5 * bound[0] and bound[256:].mean() < bound[1:16].mean()
