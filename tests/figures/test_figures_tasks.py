"""The tasks suite's figures: accuracy vs length per task, passkey by depth; not-learned models marked."""

import matplotlib.colors
import pytest
from figure_tables import flipflop_rows, table, task_rows as rows

from pe_bench.figures import NoUsableRows, colour
from pe_bench.suites.tasks.figures import draw_accuracy_vs_length, draw_flipflop_errors, draw_passkey_depth


def test_one_panel_per_task_rand_dashed_and_not_learned_marked():
    fig = draw_accuracy_vs_length(table("tasks", rows()))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["passkey (L = 16)", "copy (L = 16)"]
    lines = {line.get_label(): line for line in panels[0].lines}
    assert lines["rope"].get_linestyle() == "-" and lines["rope+rand"].get_linestyle() == "--"
    assert matplotlib.colors.to_hex(lines["rope+rand"].get_color()) == colour("rope")
    assert lines["_alibi (not learned)"].get_linestyle() == ":"  # drawn dotted, kept out of the legend
    assert list(lines["rope"].get_ydata()) == [1.0, 0.5, 0.25]  # the mean over depths


def _legend(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_a_model_with_no_supported_row_draws_no_line_and_no_legend_entry():
    irope = [dict(r, encoding="irope", variant="irope", supported=False, accuracy=None) for r in rows()
             if r["variant"] == "rope"]
    fig = draw_accuracy_vs_length(table("tasks", rows() + irope))
    assert "irope" not in _legend(fig) and "rope" in _legend(fig)


def test_the_legend_lists_each_variant_once_whether_or_not_it_learned_each_task():
    # t5 learned copy but not passkey: the legend once said "t5 (not learned)" and "t5" side by side
    tasks = [dict(r, encoding="t5", variant="t5", learned=r["task"] == "copy") for r in rows()
             if r["variant"] == "alibi"]
    fig = draw_accuracy_vs_length(table("tasks", rows() + tasks))
    legend = _legend(fig)
    assert [e for e in legend if "t5" in e] == ["t5"]
    assert legend.count("alibi") == 1  # learned nowhere: listed once, in its colour
    assert legend.count("dotted, hollow: not learned at L") == 1
    assert not any("(not learned)" in e for e in legend)


def test_the_title_says_seed_for_one_and_seeds_for_several():
    assert "preset tiny, seed 0" in draw_accuracy_vs_length(table("tasks", rows())).get_suptitle()
    several = [dict(r, seed=s) for r in rows() for s in (0, 1, 2)]
    assert "seeds 0, 1, 2" in draw_accuracy_vs_length(table("tasks", several)).get_suptitle()


def test_passkey_heatmap_per_variant_with_depth_rows():
    fig = draw_passkey_depth(table("tasks", rows()))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["rope", "rope+rand", "alibi\n(not learned at L)"]
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["start", "middle", "end"]


def test_passkey_heatmaps_wrap_into_rows_and_leave_out_what_was_never_measured():
    names = ["sinusoidal", "learned", "t5", "rope", "alibi", "nope", "xpos", "fire", "kerple-log"]  # registry order
    passkey = [r for r in rows() if r["task"] == "passkey" and r["variant"] == "rope"]
    many = [dict(r, encoding=n, variant=n) for n in names for r in passkey]
    many += [dict(r, encoding="irope", variant="irope", supported=False, accuracy=None) for r in passkey]
    fig = draw_passkey_depth(table("tasks", many))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == names  # irope: no supported row, no panel
    tops = sorted({round(ax.get_position().y0, 3) for ax in panels})
    assert len(tops) == 2  # nine panels: two rows of at most six
    width, height = fig.get_size_inches()
    assert width < 6 * 2.7 and height > 2 * 2.7


def test_no_supported_rows_is_no_usable_rows():
    with pytest.raises(NoUsableRows):
        draw_accuracy_vs_length(table("tasks", [dict(r, supported=False) for r in rows()]))
    with pytest.raises(NoUsableRows):
        draw_passkey_depth(table("tasks", [r for r in rows() if r["task"] == "copy"]))


def test_flipflop_errors_one_panel_per_mix_error_is_one_minus_accuracy():
    fig = draw_flipflop_errors(table("tasks", rows() + flipflop_rows()))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["dense mix", "train mix (trained on)", "sparse mix"]
    lines = {line.get_label(): line for line in panels[1].lines}
    assert [round(y, 6) for y in lines["rope"].get_ydata()] == [0.0, 0.1, 0.3]
    assert _legend(fig).count("dotted, hollow: not learned at L") == 1
    assert lines["_alibi (not learned)"].get_linestyle() == ":"
    with pytest.raises(NoUsableRows):
        draw_flipflop_errors(table("tasks", rows()))
