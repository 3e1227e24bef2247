"""Pictures of the encodings themselves, computed from their formulas: no result table needed.

Each ``draw_*`` takes the encoding to draw, built through the registry by default, and reads
every number in its titles (base, width, buckets, heads) from that instance, so a title
cannot disagree with the picture under it.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from pe_bench.encodings import PositionalEncoding, build_encoding
from pe_bench.encodings.alibi import ALiBi
from pe_bench.encodings.rope import RoPE, rope_relative_upper_bound
from pe_bench.encodings.sinusoidal import Sinusoidal
from pe_bench.encodings.t5 import T5Bias, relative_position_bucket
from pe_bench.figures.common import FigureSpec, colour, subplots

#: the width the default encodings are built at (RoPE with one head, so its head_dim too)
D_MODEL = 64
ALIBI_HEADS = 8


def _build(name: str, *, max_len: int, d_model: int = D_MODEL, n_heads: int = 1,
           **options: object) -> PositionalEncoding:
    """The registered encoding ``name``, built without touching torch's global random state."""
    # T5 draws its table's initial values: drawing a figure must not change what a seeded run draws next
    with torch.random.fork_rng(devices=[]):
        return build_encoding(name, d_model=d_model, n_heads=n_heads, max_len=max_len, **options)


def draw_encoding_sinusoidal(sinusoidal: Sinusoidal | None = None, positions: int = 256) -> Figure:
    """The sinusoidal table as a heatmap: positions down, dimensions across."""
    if sinusoidal is None:
        sinusoidal = _build("sinusoidal", max_len=positions)
    table = sinusoidal.embedding(torch.arange(positions), torch.float32).numpy()  # (positions, d_model)
    fig, axes = subplots(1, width=5.6, height=5.0)
    ax = axes[0]
    image = ax.imshow(table, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    fig.colorbar(image, ax=ax, label="PE[p, i]")
    ax.set_xlabel("dimension i (even: sin, odd: cos)")
    ax.set_ylabel("position p")
    ax.set_title(f"Sinusoidal encoding, d_model {sinusoidal.d_model}, base {sinusoidal.base:g}")
    return fig


def draw_encoding_qk_decay(rope: RoPE | None = None, max_distance: int = 512) -> Figure:
    """Long-term decay: RoPE's relative upper bound and the sinusoidal dot product vs distance.

    The sinusoidal encoding is built with ``rope``'s head_dim as its width and ``rope``'s base,
    so the two curves share their frequencies. The bound uses plain RoPE's frequencies.
    """
    if rope is None:
        rope = _build("rope", max_len=max_distance + 1)
    sinusoidal = _build("sinusoidal", max_len=max_distance + 1, d_model=rope.head_dim, base=rope.base)
    distance = torch.arange(max_distance + 1)
    bound = rope_relative_upper_bound(distance, rope.head_dim, rope.base)
    bound = bound / bound[0]
    pe = sinusoidal.embedding(distance, torch.float64)  # (d+1, head_dim)
    dot = (pe @ pe[0]) / (pe[0] @ pe[0])
    fig, axes = subplots(1)
    ax = axes[0]
    # named "rope" even for a scaling variant: the bound is plain RoPE's at this head_dim and base
    ax.plot(distance, bound, color=colour("rope"), label="rope: relative upper bound on |q·k| (RoFormer)")
    ax.plot(distance, dot, color=colour(sinusoidal.name), label=f"{sinusoidal.name}: <PE[p], PE[p+d]>")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("distance d (positions)")
    ax.set_ylabel("value / its value at d = 0")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(f"Long-term decay with distance (head_dim / d_model {rope.head_dim}, base {rope.base:g})",
                 fontsize="medium")
    return fig


def _t5_with(t5: T5Bias, causal: bool, max_len: int) -> T5Bias:
    """``t5`` if it is ``causal`` as asked, else a T5 bias with its settings and the other direction."""
    if t5.causal == causal:
        return t5
    return _build(t5.name, max_len=max_len, d_model=t5.d_model, n_heads=t5.n_heads, causal=causal,
                  num_buckets=t5.num_buckets, max_distance=t5.max_distance)


def draw_encoding_t5_buckets(t5: T5Bias | None = None, size: int = 64) -> Figure:
    """T5's bucket of (key - query) over a grid of positions, causal and bidirectional.

    Both panels use ``t5``'s ``num_buckets`` and ``max_distance``; the panel of the other
    direction than ``t5``'s draws a T5 bias built with the same settings.
    """
    if t5 is None:
        t5 = _build("t5", max_len=size)
    positions = torch.arange(size)
    relative = positions[None, :] - positions[:, None]  # (query, key): key - query
    fig, axes = subplots(2, width=5.0, height=4.4)
    for ax, causal in zip(axes, (True, False)):
        panel = _t5_with(t5, causal, size)
        buckets = relative_position_bucket(relative, not panel.causal, panel.num_buckets, panel.max_distance)
        image = ax.imshow(buckets.numpy(), cmap="viridis", interpolation="nearest", origin="upper")
        fig.colorbar(image, ax=ax, label="bucket index")
        ax.set_xlabel("key position j")
        ax.set_ylabel("query position i")
        ax.set_title(f"causal ({panel.num_buckets} buckets; keys after i share bucket 0)" if causal else
                     f"bidirectional ({panel.num_buckets // 2} buckets per side)", fontsize="medium")
    fig.suptitle(f"T5 relative position buckets of j - i ({t5.num_buckets} buckets, max_distance {t5.max_distance})")
    return fig


def draw_encoding_alibi_bias(alibi: ALiBi | None = None, max_distance: int = 64) -> Figure:
    """ALiBi's bias -m_h · distance for each head, with the slopes ``alibi`` holds."""
    if alibi is None:
        alibi = _build("alibi", max_len=max_distance + 1, n_heads=ALIBI_HEADS)
    n_heads = alibi.n_heads
    distance = np.arange(max_distance + 1)
    # shades of ALiBi's colour: head 1 (steepest) darkest
    shades = LinearSegmentedColormap.from_list("alibi", ["#e3d7f0", colour(alibi.name), "#2d1b4e"])
    fig, axes = subplots(1)
    ax = axes[0]
    for h, slope in enumerate(alibi.slopes.tolist()):
        ax.plot(distance, -slope * distance, color=shades(1 - h / max(n_heads - 1, 1) * 0.85),
                label=f"head {h + 1}: m = 1/{1 / slope:g}")
    ax.set_xlabel("distance |i - j| (positions)")
    ax.set_ylabel("bias added to the logit")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", ncols=2)
    ax.set_title(f"ALiBi bias per head ({n_heads} heads, alibi_slopes({n_heads}))")
    return fig


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("encoding_sinusoidal", None, draw_encoding_sinusoidal),
    FigureSpec("encoding_qk_decay", None, draw_encoding_qk_decay),
    FigureSpec("encoding_t5_buckets", None, draw_encoding_t5_buckets),
    FigureSpec("encoding_alibi_bias", None, draw_encoding_alibi_bias),
)
