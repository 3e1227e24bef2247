"""The cross-suite summary: each suite's part side by side, one row per encoding; Markdown output."""

import math

import pandas as pd

from pe_bench.results.summary import display_rows, markdown_table, summarize
from pe_bench.results.summary import SummaryPart
from pe_bench.suites import SUITES

TOY = SummaryPart(columns=("rows", "note"),
                  compute=lambda tables, name: {"rows": int((tables["toy"]["encoding"] == name).sum()),
                                                "ignored": 1},
                  display=(("rows", lambda r: str(r["rows"])),), legend="*rows*: how many.")


def test_every_part_fills_its_columns_and_only_mentioned_encodings_get_a_row():
    toy = pd.DataFrame({"encoding": ["rope", "rope", "nope"]})
    summary = summarize({"toy": toy}, ["nope", "alibi", "rope"], [TOY])
    assert list(summary.columns) == ["encoding", "family", "rows", "note"]  # "ignored" is not its column
    assert list(summary["encoding"]) == ["nope", "rope"]  # alibi is in no table
    assert summary.set_index("encoding").loc["rope", "rows"] == 2
    assert math.isnan(summary.set_index("encoding").loc["rope", "note"])  # the part left it empty
    titles, cells = display_rows(summary, [TOY])
    assert titles == ["encoding", "rows"] and cells == [["nope", "1"], ["rope", "2"]]


def test_the_registered_parts_give_an_empty_row_not_an_error_when_their_suite_did_not_run():
    toy = pd.DataFrame({"encoding": ["rope"]})
    parts = [suite.summary for suite in SUITES.values()]
    summary = summarize({"toy": toy}, ["rope"], parts)
    assert list(summary.columns) == ["encoding", "family", *(c for p in parts for c in p.columns)]
    _, cells = display_rows(summary, parts)
    assert cells == [["rope", *[""] * (len(cells[0]) - 1)]]


def test_the_speed_part_picks_the_fastest_backend_and_its_ratio():
    speed = pd.DataFrame([
        {"encoding": e, "backend": b, "mode": "inference", "seq_len": 512, "ms_median": ms, "ratio_vs_nope": r,
         "supported": True, "preset": "quick", "device": "cpu", "dtype": "float32"}
        for e, b, ms, r in (("t5", "sdpa", 12.0, 1.2), ("t5", "flex", 10.5, 1.05), ("nope", "sdpa", 10.0, 1.0),
                            ("nope", "flex", 10.0, 1.0))
    ])
    summary = summarize({"speed": speed}, ["nope", "t5"], [SUITES["speed"].summary]).set_index("encoding")
    assert summary.loc["t5", "infer_backend"] == "flex" and summary.loc["t5", "infer_x_nope"] == 1.05


def test_markdown_tables_escape_pipes():
    table = markdown_table(["encoding", "max |diff|"], [["rope", "a|b"]])
    assert table.splitlines()[0] == "| encoding | max \\|diff\\| |"
    assert all(line.count("|") - line.count("\\|") == 3 for line in table.splitlines())


def test_the_speed_part_shows_the_honest_ratio_with_its_interval_and_baseline():
    speed = pd.DataFrame([
        {"encoding": e, "backend": b, "mode": "inference", "seq_len": 512, "ms_median": ms, "ratio_vs_nope": r,
         "ratio_ci_low": r - 0.05, "ratio_ci_high": r + 0.05, "nope_backend": "sdpa", "supported": True,
         "preset": "quick", "device": "cpu", "dtype": "float32"}
        for e, b, ms, r in (("t5", "sdpa", 11.0, 1.1), ("t5", "flex", 12.0, 1.2), ("nope", "sdpa", 10.0, 1.0),
                            ("nope", "flex", 11.0, 1.1))
    ])
    part = SUITES["speed"].summary
    summary = summarize({"speed": speed}, ["nope", "t5"], [part])
    _, cells = display_rows(summary, [part])
    assert cells[1][1] == "1.10x [1.05, 1.15] sdpa"
    assert summary.set_index("encoding").loc["t5", "infer_nope_backend"] == "sdpa"
