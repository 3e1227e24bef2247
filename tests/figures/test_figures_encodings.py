"""The encodings' own pictures: every number in a title is read from the encoding drawn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pe_bench.encodings import build_encoding
from pe_bench.encodings.rope import rope_relative_upper_bound
from pe_bench.encodings.sinusoidal import sinusoidal_table
from pe_bench.encodings.t5 import relative_position_bucket
from pe_bench.figures.encodings import (
    FIGURES, draw_encoding_alibi_bias, draw_encoding_qk_decay, draw_encoding_sinusoidal, draw_encoding_t5_buckets,
)


def _image(fig) -> np.ndarray:
    return fig.axes[0].get_images()[0].get_array()


def test_the_default_pictures_keep_their_titles():
    assert draw_encoding_sinusoidal().axes[0].get_title() == "Sinusoidal encoding, d_model 64, base 10000"
    assert draw_encoding_qk_decay().axes[0].get_title() == \
        "Long-term decay with distance (head_dim / d_model 64, base 10000)"
    t5 = draw_encoding_t5_buckets()
    assert t5.get_suptitle() == "T5 relative position buckets of j - i (32 buckets, max_distance 128)"
    assert [ax.get_title() for ax in t5.axes if ax.get_title()] == [
        "causal (32 buckets; keys after i share bucket 0)", "bidirectional (16 buckets per side)"]
    assert draw_encoding_alibi_bias().axes[0].get_title() == "ALiBi bias per head (8 heads, alibi_slopes(8))"


def test_t5_titles_and_buckets_come_from_the_instance_drawn():
    t5 = build_encoding("t5", d_model=16, n_heads=2, max_len=64, num_buckets=12, max_distance=40)
    fig = draw_encoding_t5_buckets(t5, size=48)
    assert fig.get_suptitle() == "T5 relative position buckets of j - i (12 buckets, max_distance 40)"
    causal, bidirectional = (ax for ax in fig.axes if ax.get_title())
    assert causal.get_title() == "causal (12 buckets; keys after i share bucket 0)"
    assert bidirectional.get_title() == "bidirectional (6 buckets per side)"
    positions = torch.arange(48)
    relative = positions[None, :] - positions[:, None]
    for ax, bidirectional_flag in ((causal, False), (bidirectional, True)):
        expected = relative_position_bucket(relative, bidirectional_flag, num_buckets=12, max_distance=40)
        assert np.array_equal(ax.get_images()[0].get_array(), expected.numpy())


def test_a_bidirectional_t5_instance_draws_the_same_picture():
    options = {"d_model": 16, "n_heads": 2, "max_len": 64, "num_buckets": 12, "max_distance": 40}
    from_causal = draw_encoding_t5_buckets(build_encoding("t5", **options), size=48)
    from_bidirectional = draw_encoding_t5_buckets(build_encoding("t5", causal=False, **options), size=48)
    assert from_causal.get_suptitle() == from_bidirectional.get_suptitle()
    for a, b in zip(from_causal.axes, from_bidirectional.axes):
        assert a.get_title() == b.get_title()
        assert all(np.array_equal(x.get_array(), y.get_array()) for x, y in zip(a.get_images(), b.get_images()))


def test_sinusoidal_title_and_table_come_from_the_instance_drawn():
    sinusoidal = build_encoding("sinusoidal", d_model=32, n_heads=1, max_len=128, base=500.0)
    fig = draw_encoding_sinusoidal(sinusoidal, positions=100)
    assert fig.axes[0].get_title() == "Sinusoidal encoding, d_model 32, base 500"
    assert np.array_equal(_image(fig), sinusoidal_table(100, 32, base=500.0).numpy())


def test_qk_decay_title_comes_from_the_rope_drawn():
    rope = build_encoding("rope", d_model=64, n_heads=2, max_len=256, base=1000.0)
    fig = draw_encoding_qk_decay(rope, max_distance=200)
    assert fig.axes[0].get_title() == "Long-term decay with distance (head_dim / d_model 32, base 1000)"
    bound = fig.axes[0].lines[0].get_ydata()
    expected = rope_relative_upper_bound(torch.arange(201), head_dim=32, base=1000.0)
    assert np.allclose(bound, (expected / expected[0]).numpy())


def test_alibi_reads_the_slopes_and_heads_of_the_instance_drawn():
    alibi = build_encoding("alibi", d_model=16, n_heads=4, max_len=64)
    alibi.slopes.copy_(torch.tensor([0.5, 0.25, 0.2, 0.1]))  # not alibi_slopes(4): read from the buffer or fail
    fig = draw_encoding_alibi_bias(alibi, max_distance=10)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["head 1: m = 1/2", "head 2: m = 1/4", "head 3: m = 1/5",
                                                       "head 4: m = 1/10"]
    assert ax.get_title() == "ALiBi bias per head (4 heads, alibi_slopes(4))"
    assert ax.lines[3].get_ydata()[-1] == pytest.approx(-1.0)  # -m * distance at distance 10


def test_drawing_the_encodings_leaves_torch_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    for spec in FIGURES:
        spec.draw()
    assert torch.equal(torch.rand(3), expected)


def test_rope_relative_upper_bound_decays_with_distance():
    bound = rope_relative_upper_bound(torch.arange(0, 513), head_dim=64)
    # at distance 0 every partial sum |S_j| = j, so the mean is (d/2 + 1) / 2
    assert abs(bound[0].item() - 16.5) < 1e-9
    assert bound[256:].mean() < 0.5 * bound[0] and bound[256:].mean() < bound[1:16].mean()
