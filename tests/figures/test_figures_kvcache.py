"""The KV-cache suite's figures: decode time, shift invariance, precision."""

from __future__ import annotations

import matplotlib.colors
import pytest
from figure_tables import table, tables

from pe_bench.figures import NoUsableRows, colour
from pe_bench.figures.common import ZERO_FLOOR
from pe_bench.suites.kvcache.figures import draw_kvcache_decode, draw_precision, draw_shift_invariance


def test_decode_draws_cached_solid_and_uncached_dashed_per_encoding_preferring_sdpa():
    kvcache = tables()["kvcache"]
    eager = kvcache["backend"] == "eager"
    kvcache.loc[eager, "cached_ms_per_token"] = 100.0  # only the sdpa rows are drawn
    fig = draw_kvcache_decode(kvcache)
    ax = fig.axes[0]
    cached_rope = ax.lines[0]
    assert list(cached_rope.get_xdata()) == [64, 128]
    assert list(cached_rope.get_ydata()) == pytest.approx([1.064, 1.128])
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["rope", "nope", "cached (solid)", "uncached: full forward (dashed)"]
    rope = [line for line in ax.lines if matplotlib.colors.to_hex(line.get_color()) == colour("rope")]
    assert sorted(line.get_linestyle() for line in rope) == ["-", "--"]
    assert "backend sdpa; also in the table: eager" in fig.get_suptitle()


def test_decode_draws_a_variant_solid_too_so_dashed_still_means_uncached():
    rows = [{"encoding": "rope-pi", "backend": "sdpa", "policy": "full", "context_len": n, "supported": True,
             "cached_ms_per_token": 1.0, "uncached_ms_per_token": 2.0} for n in (64, 128)]
    fig = draw_kvcache_decode(table("kvcache", rows))
    styles = {(matplotlib.colors.to_hex(line.get_color()), line.get_linestyle()) for line in fig.axes[0].lines[:2]}
    assert styles == {(colour("rope-pi"), "-"), (colour("rope-pi"), "--")}


def test_decode_needs_a_full_cache_row():
    rows = [{"encoding": "rope", "backend": "sdpa", "policy": "window", "context_len": 64, "supported": True,
             "cached_ms_per_token": 1.0, "uncached_ms_per_token": 2.0}]
    with pytest.raises(NoUsableRows, match="policy 'full'"):
        draw_kvcache_decode(table("kvcache", rows))


def test_shift_marks_exact_zeros_draws_them_at_the_floor_and_leaves_out_unsupported_rows():
    fig = draw_shift_invariance(tables()["shift"])
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    assert list(lines) == ["sinusoidal", "rope (exactly 0)"]  # learned's only row is unsupported
    assert list(lines["rope (exactly 0)"].get_ydata()) == [ZERO_FLOOR, ZERO_FLOOR]
    assert list(lines["sinusoidal"].get_ydata()) == pytest.approx([0.1, 1.0])
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert f"0 drawn at {ZERO_FLOOR:g}" in ax.get_ylabel()
    assert "T = 16, backend sdpa" in fig.get_suptitle()


def test_precision_has_a_panel_per_dtype_and_counts_the_overflows():
    fig = draw_precision(tables()["precision"])
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["float32", "float16 (2 NaN values not drawn: overflow)"]
    styles = {line.get_label(): line.get_linestyle() for line in panels[0].lines}
    assert styles == {"sinusoidal: table_angles_in_dtype": "--", "rope: qk": "-"}


def test_precision_without_any_error_value_is_no_usable_rows():
    rows = [{"encoding": "rope", "position": 8, "dtype": "float32", "quantity": "qk", "abs_error": ""}]
    with pytest.raises(NoUsableRows, match="precision.csv"):
        draw_precision(table("precision", rows))
