"""Noise is never shipped as a result (issue 26, item 2): a speed row whose spread makes its ratio
to NoPE meaningless is flagged in the table, in every report of it and in the figure, and the end of
the run names it. Synthetic timings only: nothing here is timed."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from figure_tables import table

from pe_bench.suites.speed.figures import NOISY_LABEL, draw_speed_ratio
from pe_bench.noise import MAX_INTERVAL_FACTOR, MAX_SPREAD, is_noisy, noisy_mask
from pe_bench.results.summary import display_rows, run_notes, summarize, write_report
from pe_bench.results.tables import read_table, upsert
from pe_bench.suites import SUITES
from pe_bench.suites.speed import SPEED, SUITE
from pe_bench.suites.speed.ratios import add_ratios
from pe_bench.suites.speed.report import noisy_notes, render


def test_the_issues_row_is_noisy_and_a_steady_one_is_not():
    # issue 26: NoPE eager inference 295.9 ms, IQR above the median, ratio interval 0.0045 to 491
    assert is_noisy(295.9, 310.0, 0.0045, 491.0)
    assert is_noisy(100.0, 100.0 * MAX_SPREAD * 1.01)  # the row's own repeats disagree
    assert is_noisy(100.0, 1.0, 0.5, 0.5 * MAX_INTERVAL_FACTOR * 1.01)  # its interval cannot tell faster from slower
    assert not is_noisy(100.0, 100.0 * MAX_SPREAD, 1.0, MAX_INTERVAL_FACTOR)  # at the limits: kept
    assert not is_noisy(14.7, 7.0, 0.93, 2.08)  # the committed results' widest row (5 repeats)


def test_what_was_not_measured_is_no_evidence_of_noise():
    assert not is_noisy(math.nan, math.nan, math.nan, math.nan)  # an unsupported row
    assert not is_noisy(10.0, 1.0)  # no NoPE in the group: no interval
    assert not is_noisy(10.0, math.nan, 0.9, 1.1)
    assert not is_noisy("", "", "", "")  # cells of a table read as text


def _timings(encoding: str, samples: list[float]) -> dict:
    median = sorted(samples)[len(samples) // 2]
    q1, q3 = pd.Series(samples).quantile([0.25, 0.75])
    return {"encoding": encoding, "backend": "eager", "mode": "inference", "seq_len": 64, "ms_median": median * 1e3,
            "ms_iqr": (q3 - q1) * 1e3, "repeats": len(samples), "ratio_vs_nope": math.nan,
            "ratio_ci_low": math.nan, "ratio_ci_high": math.nan, "noisy": math.nan,
            "ratio_vs_nope_same_backend": math.nan, "nope_backend": "", "supported": True}


def test_add_ratios_flags_a_noisy_group_and_leaves_a_steady_one_alone():
    steady = {"nope": [0.010, 0.0101, 0.0099], "rope": [0.012, 0.0121, 0.0119]}
    noisy = {"nope": [0.0007, 0.2959, 0.6], "rope": [0.012, 0.0121, 0.0119]}  # a loaded machine stalls NoPE
    for samples, expected in ((steady, False), (noisy, True)):
        rows = {("eager", name): _timings(name, s) for name, s in samples.items()}
        add_ratios(rows, {key: samples[key[1]] for key in rows})
        assert [rows["eager", name]["noisy"] for name in samples] == [expected, expected]


def _speed_table(noisy_nope: bool) -> pd.DataFrame:
    """NoPE and RoPE on sdpa, inference and train, two lengths; NoPE's inference at T = 64 noisy if asked."""
    rows = []
    for encoding, ratio in (("nope", 1.0), ("rope", 1.2)):
        for mode in ("inference", "train"):
            for seq_len in (32, 64):
                low, high, iqr = ratio * 0.95, ratio * 1.05, 0.1
                if noisy_nope and encoding == "nope" and mode == "inference" and seq_len == 64:
                    low, high, iqr = 0.0045, 491.0, 400.0
                rows.append(SPEED.row(encoding=encoding, backend="sdpa", mode=mode, seq_len=seq_len, batch_size=2,
                                      preset="tiny", ms_median=2.0 * ratio, ms_iqr=iqr, repeats=3,
                                      ratio_vs_nope=ratio, ratio_ci_low=low, ratio_ci_high=high,
                                      noisy=is_noisy(2.0 * ratio, iqr, low, high), device="cpu", dtype="float32",
                                      threads=2, torch_version="2"))
    return pd.DataFrame(rows)


def test_the_terminal_table_marks_the_noisy_cell_and_says_what_it_means():
    text = {str(c) for col in render({"speed": _speed_table(True)}).columns for c in col.cells}
    assert "2.0 (1.00x) noisy" in text and "2.4 (1.20x)" in text
    assert "noisy: timings too spread" in render({"speed": _speed_table(True)}).title
    assert "noisy" not in render({"speed": _speed_table(False)}).title


def test_the_summary_marks_a_noisy_ratio_and_its_legend_says_why():
    summary = summarize({"speed": _speed_table(True)}, ["nope", "rope"], [SUITE.summary])
    titles, cells = display_rows(summary, [SUITE.summary])
    infer = titles.index("infer x NoPE")
    assert cells[0][infer].endswith(" noisy") and not cells[1][infer].endswith("noisy")
    assert not cells[0][titles.index("train x NoPE")].endswith("noisy")
    assert "*noisy*" in SUITE.summary.legend


def test_the_end_of_the_run_names_the_noisy_rows_and_how_to_measure_them_again(tmp_path):
    parts = [suite.summary for suite in SUITES.values()]
    notes = run_notes({"speed": _speed_table(True)}, parts)
    assert len(notes) == 1
    assert "1 of 8 timed rows are noisy" in notes[0] and "nope sdpa inference T=64" in notes[0]
    assert "--repeats 10" in notes[0] and "quiet machine" in notes[0]
    assert run_notes({"speed": _speed_table(False)}, parts) == []
    write_report(tmp_path, {"speed": _speed_table(True)}, parts, encodings=("rope",), preset="tiny",
                 runtime_record={"device": "cpu", "threads": 2, "dtype": "float32", "torch_version": "2"},
                 command="pe-bench run", suite_tables=[], figures=[])
    markdown = (tmp_path / "summary.md").read_text()
    assert "## Warnings" in markdown and notes[0] in markdown


def test_the_figure_circles_a_noisy_point_and_its_legend_says_so():
    fig = draw_speed_ratio(table("speed", _speed_table(True).to_dict("records")))
    marked = [line for ax in fig.axes for line in ax.lines if line.get_label() == NOISY_LABEL]
    assert len(marked) == 1 and list(marked[0].get_xdata()) == [64]
    fig = draw_speed_ratio(table("speed", _speed_table(False).to_dict("records")))
    assert not [line for ax in fig.axes for line in ax.lines if line.get_label() == NOISY_LABEL]


def test_a_table_written_before_the_noisy_column_loads_and_its_rows_are_judged_from_their_numbers(tmp_path):
    old = _speed_table(True).drop(columns=["noisy"])
    (tmp_path / "speed.csv").write_text(old.to_csv(index=False))
    df = read_table(tmp_path / "speed.csv", SPEED)
    assert "noisy" in df.columns and df["noisy"].isna().all()
    assert noisy_mask(df).sum() == 1
    assert len(noisy_notes({"speed": df})) == 1
    upsert(tmp_path, SPEED, _speed_table(False).to_dict("records"))  # a new run over it
    assert not noisy_mask(read_table(tmp_path / "speed.csv", SPEED)).any()


@pytest.mark.parametrize("repeats", [0, -1])
def test_repeats_can_be_set_and_must_be_positive(repeats):
    assert SUITE.settings("tiny", repeats=12).repeats == 12
    with pytest.raises(Exception, match="--repeats"):
        SUITE.settings("tiny", repeats=repeats)
