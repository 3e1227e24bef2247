"""The speed figure: step time relative to NoPE, best backend per point, one setting, supported rows only."""

from __future__ import annotations

import matplotlib.colors
import pytest
from figure_tables import speed_rows, table

from pe_bench.figures import NoUsableRows, colour
from pe_bench.suites.speed.figures import draw_speed_ratio


@pytest.mark.parametrize("flags", [(True, False), ("True", "False")], ids=["bool", "str"])
def test_supported_may_come_back_as_bools_or_strings(flags):
    rows = speed_rows()
    for row in rows:
        row["supported"] = flags[0] if row["encoding"] != "alibi" else flags[1]
    fig = draw_speed_ratio(table("speed", rows).astype({"supported": object}))
    labels = {line.get_label() for line in fig.axes[0].lines}
    assert labels == {"nope", "rope", "same time as NoPE"}


def test_one_panel_per_mode_inference_first_each_encoding_in_its_colour():
    fig = draw_speed_ratio(table("speed", speed_rows()))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["inference step", "train step"]
    for ax in panels:
        lines = {line.get_label(): line for line in ax.lines}
        # registry order: rope before alibi before nope
        assert list(lines) == ["rope", "alibi", "nope", "same time as NoPE"]
        assert matplotlib.colors.to_hex(lines["alibi"].get_color()) == colour("alibi")
        assert list(lines["rope"].get_xdata()) == [64, 128]
    assert "best of backends flex, sdpa per point" in fig.get_suptitle()
    # it plots the fastest backend per point, and says so, not a line per backend
    assert fig.get_suptitle().startswith("Step time on each encoding's fastest backend over NoPE's on its fastest")
    assert "batch 2" in fig.get_suptitle()


def test_each_point_takes_the_fastest_backend():
    rows = speed_rows()
    for row in rows:
        if row["encoding"] == "rope" and row["backend"] == "flex" and row["seq_len"] == 128:
            row["ms_median"], row["ratio_vs_nope"] = 1.0, 0.5  # flex beats sdpa (2.4 ms) here only
    fig = draw_speed_ratio(table("speed", rows))
    rope = next(line for line in fig.axes[0].lines if line.get_label() == "rope")
    assert list(rope.get_ydata()) == [1.2, 0.5]


def test_a_single_backend_is_named_as_such():
    rows = [row for row in speed_rows() if row["backend"] == "sdpa"]
    assert "backend sdpa;" in draw_speed_ratio(table("speed", rows)).get_suptitle()


def test_no_supported_row_is_no_usable_rows():
    with pytest.raises(NoUsableRows, match="speed.csv.*supported"):
        draw_speed_ratio(table("speed", speed_rows(supported=False)))
