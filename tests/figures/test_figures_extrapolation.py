"""The extrapolation suite's figures: perplexity vs length, streaming, training loss."""

from __future__ import annotations

import matplotlib.colors
import matplotlib.figure
import pandas as pd
import pytest
from figure_tables import table, tables

from pe_bench.figures import NoUsableRows, colour
from pe_bench.suites.extrapolation.figures import STREAM_MODES, draw_ppl_vs_length, draw_streaming, draw_training_loss


def _line_colours(fig: matplotlib.figure.Figure) -> dict[str, str]:
    return {line.get_label(): matplotlib.colors.to_hex(line.get_color()) for ax in fig.axes for line in ax.lines}


def test_an_encoding_has_the_same_colour_in_two_different_figures():
    data = tables()
    ppl_colours = _line_colours(draw_ppl_vs_length(data["extrapolation"]))
    loss_colours = _line_colours(draw_training_loss(data["training"]))
    assert ppl_colours["rope"] == loss_colours["rope"] == colour("rope")
    assert ppl_colours["rope-pi"] == colour("rope-pi") != ppl_colours["rope"]


def test_several_settings_in_one_table_draw_the_commonest_and_say_so():
    extrapolation = tables()["extrapolation"]
    other = extrapolation.iloc[:2].assign(train_len=8)  # two rows of another training length
    fig = draw_ppl_vs_length(pd.concat([extrapolation, other], ignore_index=True))
    title = fig.get_suptitle()
    vlines = [line for line in fig.axes[0].lines if line.get_label().startswith("training length")]
    assert "trained at 16 tokens" in title and "of 2" in title
    assert [line.get_label() for line in vlines] == ["training length 16"]


def test_ppl_panels_and_where_a_variant_stops_having_a_perplexity():
    fig = draw_ppl_vs_length(tables()["extrapolation"])
    nonoverlap, sliding = (ax for ax in fig.axes if ax.get_title())
    assert nonoverlap.get_title() == "non-overlapping windows"
    assert sliding.get_title() == "sliding window, stride 16"
    assert [line.get_label() for line in nonoverlap.lines] == [
        "learned (n/a from 32)", "rope", "alibi", "rope-pi", "training length 16"]
    styles = {line.get_label(): line.get_linestyle() for line in nonoverlap.lines}
    assert styles["rope"] == "-" and styles["rope-pi"] == "--"
    assert "learned" not in " ".join(line.get_label() for line in sliding.lines)


def test_a_variant_with_a_single_point_at_l_shows_above_the_training_length_line():
    fig = draw_ppl_vs_length(tables()["extrapolation"])
    nonoverlap = next(ax for ax in fig.axes if ax.get_title())
    lines = {line.get_label(): line for line in nonoverlap.lines}
    learned, at_l, rope = lines["learned (n/a from 32)"], lines["training length 16"], lines["rope"]
    assert list(learned.get_xdata()) == [16]  # its one perplexity, at L
    assert learned.get_marker() == "o" and learned.get_markersize() > rope.get_markersize()
    assert learned.get_zorder() > at_l.get_zorder()


def test_ppl_with_no_supported_perplexity_is_no_usable_rows():
    rows = tables()["extrapolation"].assign(supported=False)
    with pytest.raises(NoUsableRows, match="task 'lm' and metric 'ppl'"):
        draw_ppl_vs_length(rows)


def test_streaming_draws_a_hatched_bar_per_mode_and_n_a_where_unsupported():
    extrapolation = tables()["extrapolation"]
    learned = (extrapolation["task"] == "stream") & (extrapolation["encoding"] == "learned")
    extrapolation.loc[learned, "value"] = 9.0  # a value in an unsupported row is never drawn
    fig = draw_streaming(extrapolation)
    ax = fig.axes[0]
    bars = ax.patches
    assert len(bars) == 3  # rope's three modes; learned is not supported
    assert {matplotlib.colors.to_hex(bar.get_facecolor()) for bar in bars} == {colour("rope")}
    assert [str(bar.get_hatch() or "") for bar in bars] == [STREAM_MODES[m] for m in ("full", "window-slot",
                                                                                      "sinks-original")]
    assert [text.get_text() for text in ax.texts] == ["n/a"] * 3
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["learned", "rope"]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["full", "window-slot", "sinks-original"]
    assert "64 tokens, trained at 16" in fig.get_suptitle()


def test_training_loss_draws_a_solid_line_per_encoding():
    fig = draw_training_loss(tables()["training"])
    assert {line.get_label(): line.get_linestyle() for line in fig.axes[0].lines} == {"rope": "-", "nope": "-"}
    assert "length 16, preset tiny, 20 steps, seed 0" in fig.get_suptitle()


def test_training_loss_without_losses_is_no_usable_rows():
    with pytest.raises(NoUsableRows, match="training.csv"):
        draw_training_loss(table("training", [{"encoding": "rope", "step": 1, "loss": ""}]))


def _two_seeds(df: pd.DataFrame, column: str = "value") -> pd.DataFrame:
    """``df`` again as seed 1, its values 10 % higher: a spread to draw."""
    other = df.assign(seed=1)
    other[column] = pd.to_numeric(other[column], errors="coerce") * 1.1
    return pd.concat([df, other], ignore_index=True)


def test_several_seeds_draw_the_mean_with_a_band_and_one_seed_says_it_has_none():
    extrapolation = tables()["extrapolation"]
    one = draw_ppl_vs_length(extrapolation)
    assert "seed 0 (1 seed, no interval)" in one.get_suptitle()
    assert not one.axes[0].collections  # nothing shaded
    two = draw_ppl_vs_length(_two_seeds(extrapolation))
    assert "mean of 2 seeds (0, 1); shaded: 95 % interval" in two.get_suptitle()
    rope = next(line for line in two.axes[0].lines if line.get_label() == "rope")
    assert list(rope.get_ydata()) == pytest.approx([6.0 * 1.05, 7.0 * 1.05])  # the mean of the two seeds
    assert len(two.axes[0].collections) == 4  # a band per variant (learned, rope, alibi, rope-pi)


def test_streaming_bars_carry_error_bars_with_several_seeds():
    extrapolation = _two_seeds(tables()["extrapolation"])
    ax = draw_streaming(extrapolation).axes[0]
    assert [bar.get_height() for bar in ax.patches] == pytest.approx([4.2] * 3)
    assert len(ax.lines) > 0  # the error bars' lines
    assert "error bars: 95 % interval" in ax.figure.get_suptitle()


def test_training_loss_is_averaged_over_seeds():
    fig = draw_training_loss(_two_seeds(tables()["training"], "loss"))
    rope = next(line for line in fig.axes[0].lines if line.get_label() == "rope")
    assert list(rope.get_ydata()) == pytest.approx([4.0 * 1.05, 3.0 * 1.05])
    assert "mean of 2 seeds" in fig.get_suptitle()
