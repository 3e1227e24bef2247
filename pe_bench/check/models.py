"""What the checks share: the encoding's tiny model, seeded tokens, decoding, comparing logits,
and what the family's hook must answer."""

from __future__ import annotations

import torch
from torch import Tensor

from pe_bench.cache import KVCache
from pe_bench.check.registry import BATCH, PREFILL, SEQ_LEN
from pe_bench.encodings import AttentionBias, Family, PositionalEncoding, QKTransform, encoding_class
from pe_bench.model import Transformer, build_model


def tiny_model(name: str, *, sharp: bool = False, **overrides: object) -> Transformer:
    """The tiny model with ``name`` (its ``check_options``), in eval mode; ``sharp``: q/k/v weights x 8.

    At initialization attention is nearly uniform, so a positional effect barely reaches the
    logits; sharper attention makes a property that does not hold measurably fail.
    """
    cls = encoding_class(name)
    overrides.setdefault("n_layers", max(2, cls.layers_needed()))  # a schedule gets every layer it names
    model = build_model(name, "tiny", seed=0, encoding_options=dict(cls.check_options), **overrides).eval()
    if sharp:
        with torch.no_grad():
            for block in model.blocks:
                block.attention.qkv.weight.mul_(8.0)
    return model


def seeded_tokens(n: int = SEQ_LEN) -> Tensor:
    return torch.randint(0, 256, (BATCH, n), generator=torch.Generator().manual_seed(1))


def max_diff(a: Tensor, b: Tensor) -> float:
    """max |a - b| (NaN if either holds one: every comparison with it fails); shapes must match."""
    if a.shape != b.shape:
        raise ValueError(f"logits of shape {tuple(a.shape)} where {tuple(b.shape)} was expected")
    return (a.float() - b.float()).abs().max().item()


def nan_last(x: float) -> float:
    """Sort key that makes NaN the worst value."""
    return float("inf") if x != x else x


def decode(model: Transformer, tokens: Tensor, cache: KVCache, prefill: int = PREFILL) -> Tensor:
    """Prefill ``prefill`` tokens, then one token per step; logits for every position."""
    parts = [model(tokens[:, :prefill], cache=cache)]
    parts += [model(tokens[:, t:t + 1], cache=cache) for t in range(prefill, tokens.shape[1])]
    return torch.cat(parts, dim=1)


def reference(encoding: object, positions: Tensor) -> int | None:
    """The ``reference`` the model passes to ``qk_transform``: only to encodings caching raw keys."""
    return None if encoding.caches_transformed_keys else int(positions.max())  # type: ignore[attr-defined]


def shape_of(x: object) -> object:
    return tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__


def hook_problems(family: Family, answer: object, enc: PositionalEncoding, positions: Tensor) -> list[str]:
    """What is wrong with the answer of the family's own hook at ``positions`` (Tq,)."""
    T, H, D = len(positions), enc.n_heads, enc.head_dim
    if family is Family.EMBEDDING:
        ok = isinstance(answer, Tensor) and answer.is_floating_point() and answer.shape == (T, enc.d_model)
        return [] if ok else [f"embedding gave {shape_of(answer)}, expected a float tensor {(T, enc.d_model)}"]
    if family is Family.ROTARY:
        if not isinstance(answer, QKTransform):
            return [f"qk_transform returned {type(answer).__name__}, not a QKTransform"]
        x = torch.randn(2, H, T, D)
        shapes = {side: shape_of(getattr(answer, side)(x)) for side in ("queries", "keys")}
        return [f"QKTransform.{side} turned {tuple(x.shape)} into {got}" for side, got in shapes.items()
                if got != tuple(x.shape)]
    if not isinstance(answer, AttentionBias):
        return [f"attention_bias returned {type(answer).__name__}, not an AttentionBias"]
    k_pos = torch.arange(T + 8)  # S != Tq, so a transposed bias shows
    got = shape_of(answer.materialize(positions, k_pos))
    problems = [] if got == (H, T, T + 8) else [f"materialize gave {got}, expected (H, Tq, S) = {(H, T, T + 8)}"]
    return problems + ([] if callable(answer.score_mod(positions, k_pos)) else ["score_mod gave no callable"])
