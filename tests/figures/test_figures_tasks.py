"""The tasks suite's figures: accuracy vs length per task, passkey by depth; not-learned models marked."""

import matplotlib.colors
import pytest
from figure_tables import table, task_rows as rows

from pe_bench.figures import NoUsableRows, colour
from pe_bench.suites.tasks.figures import draw_accuracy_vs_length, draw_passkey_depth


def test_one_panel_per_task_rand_dashed_and_not_learned_marked():
    fig = draw_accuracy_vs_length(table("tasks", rows()))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["passkey (L = 16)", "copy (L = 16)"]
    lines = {line.get_label(): line for line in panels[0].lines}
    assert lines["rope"].get_linestyle() == "-" and lines["rope+rand"].get_linestyle() == "--"
    assert matplotlib.colors.to_hex(lines["rope+rand"].get_color()) == colour("rope")
    assert "alibi (not learned)" in lines and lines["alibi (not learned)"].get_linestyle() == ":"
    assert list(lines["rope"].get_ydata()) == [1.0, 0.5, 0.25]  # the mean over depths


def test_passkey_heatmap_per_variant_with_depth_rows():
    fig = draw_passkey_depth(table("tasks", rows()))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["rope", "rope+rand", "alibi\n(not learned at L)"]
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["start", "middle", "end"]


def test_no_supported_rows_is_no_usable_rows():
    with pytest.raises(NoUsableRows):
        draw_accuracy_vs_length(table("tasks", [dict(r, supported=False) for r in rows()]))
    with pytest.raises(NoUsableRows):
        draw_passkey_depth(table("tasks", [r for r in rows() if r["task"] == "copy"]))
