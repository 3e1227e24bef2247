"""The small interface every positional encoding implements.

An encoding works through exactly one of three hooks, chosen by its family; the other two
return ``None`` and cost nothing:

- ``embedding(positions, dtype)``: a (T, d_model) tensor added to the token embeddings
  (sinusoidal, learned absolute);
- ``qk_transform(positions, dtype, reference)``: a ``QKTransform`` applied to queries and
  keys in every layer; queries and keys may be transformed differently (RoPE rotates both
  alike; xPos also scales them, queries up and keys down). ``caches_transformed_keys``
  says whether a KV cache may hold keys already transformed, or must hold them raw and
  transform all of them again at every step;
- ``attention_bias(dtype)``: an ``AttentionBias`` on the logits, a function of the head and
  of each query and key position (not only of their distance: FIRE normalizes by the
  query's position), usable densely (eager, SDPA) and per entry (flex's ``score_mod``);
  ``DistanceTableBias`` (t5.py) is the fast special case of a per-distance table.

Two families go further. A contextual encoding (CoPE, FoX) computes its bias in each layer
from that layer's input, queries and keys: ``layer_context()`` gives every attention layer a
``LayerContext`` of its own (its parameters, and ``state_size`` numbers per head that a KV
cache keeps beside each key). A schedule (schedule.py) gives each layer an encoding:
``for_layer(i)`` and ``layer_window(i)`` (the latest keys layer i sees, None: all), and
``layers_needed()`` the depth it names. For every other encoding these return ``self``,
None and 1.

Each encoding states what it claims — ``shift_invariant`` (relative) or not (absolute),
``max_len``, ``causal_only``, ``exact_cache`` — and ``pe-bench check`` (check.py) verifies
every claim on a model; nothing trusts it.

Every hook takes positions explicitly (a LongTensor of shape (T,), shared by the batch) and
never assumes ``arange(T)``: that is what makes cached decoding, offsets, sliding windows and
extrapolation correct.

Shape letters: B batch, H heads, T or Tq queries, S key slots, D head_dim.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from enum import Enum
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from pe_bench.errors import InputError

#: flex_attention's score_mod: (score, batch, head, q_idx, kv_idx) -> new score.
ScoreMod = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor], Tensor]


class Family(str, Enum):
    """Where an encoding injects position information."""

    EMBEDDING = "embedding"  # added to token embeddings before the first layer
    ROTARY = "rotary"  # rotates queries and keys in every layer
    BIAS = "bias"  # adds a bias to every attention logit
    NONE = "none"  # no positional information; the causal mask alone orders tokens
    CONTEXTUAL = "contextual"  # a bias each layer computes from its own tensors (CoPE, FoX): ``layer_context``
    SCHEDULE = "schedule"  # another encoding in each layer, cycled (iRoPE): ``for_layer``


class AttentionBias(ABC):
    """A bias on attention logits that depends on the head and on query and key positions.

    It is added after the 1/sqrt(head_dim) scaling, so it is never scaled itself.
    Backends use it in one of two ways: ``materialize`` builds the dense (H, Tq, S) tensor
    (eager and SDPA), ``score_mod`` computes one entry at a time inside a flex_attention
    kernel, so the dense tensor never exists.
    """

    @abstractmethod
    def materialize(self, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        """Dense bias of shape (H, Tq, S) for query positions (Tq,) and key positions (S,)."""

    @abstractmethod
    def score_mod(self, q_pos: Tensor, k_pos: Tensor) -> ScoreMod:
        """A flex_attention score_mod adding the same bias as ``materialize``."""

    def causal_fold(self, q_pos: Tensor, k_pos: Tensor) -> tuple[Tensor, Tensor] | None:
        """Optional fast path: the bias as extra query and key columns, or None (the default).

        Columns ``qc`` (H or 1, Tq or 1, n) and ``kc`` (H or 1, S, n) whose dot product
        ``qc[h, i] . kc[h, j]`` equals ``materialize(q_pos, k_pos)[h, i, j]`` up to a
        constant per query (softmax ignores it), wherever key j is at or before query i.
        Backends then append them to queries and keys and run a fused causal kernel with no
        mask; they check that every visible key is at or before its query before using them.
        A bias that declares nothing keeps the dense path.
        """
        return None

    def far_constant(self) -> tuple[Tensor, Tensor] | None:
        """Optional fast path: a causal bias of the distance alone, constant far away, or None.

        ``(near, far)``: ``near`` (H, W) is the bias of a key at distance d = q_pos - k_pos,
        0 <= d < W, ``far`` (H,) the bias of every key at distance W or more; both may need a
        gradient. Backends then run the far keys on a fused kernel with no bias and only the
        near band of width W with it (split.py). None (the default): no such split.
        """
        return None


class QKTransform(ABC):
    """A position-dependent map applied to queries and keys (B, H, T, D) in every layer.

    Built once per forward pass for one set of positions and shared by every layer.
    ``keys`` defaults to ``queries``; an encoding that treats the two differently
    overrides it.
    """

    @abstractmethod
    def queries(self, x: Tensor) -> Tensor:
        """Queries ``x`` (B, H, T, D) at this transform's positions, transformed."""

    def keys(self, x: Tensor) -> Tensor:
        """Keys ``x`` (B, H, T, D) at this transform's positions, transformed."""
        return self.queries(x)

    def queries_and_keys(self, qk: Tensor) -> tuple[Tensor, Tensor]:
        """Queries ``qk[0]`` and keys ``qk[1]`` (each (B, H, T, D); ``qk`` may be a strided view of
        the fused projection), transformed. An encoding that treats both alike overrides it to
        transform them in one pass."""
        return self.queries(qk[0]), self.keys(qk[1])


class LayerContext(nn.Module, ABC):
    """A contextual encoding's part in one layer, with its own parameters: the bias on this layer's
    logits, computed from the layer's input ``x`` (B, T, C), queries (B, H, Tq, D) and keys
    (B, H, S, D) — FoX's forget gates, CoPE's gated counts. The bias it returns may differ per
    batch row: ``materialize`` gives (B, H, Tq, S).

    ``state_size`` numbers per head per token are kept in the KV cache beside each key (FoX: the
    running sum of its log forget gates); ``state`` then reads and writes them (cache.py).
    """

    state_size: ClassVar[int] = 0

    @abstractmethod
    def bias(self, x: Tensor, q: Tensor, k: Tensor, k_pos: Tensor, visible: Tensor | None, state: Any) -> AttentionBias:
        """This layer's bias over the valid keys ``k``, at positions ``k_pos`` (S,) (a ring cache's are not
        in order); ``visible`` (Tq, S) bool says which keys each query sees (None: all of them), ``state`` is
        the cache's ``LayerState``, or None without a cache."""


class PositionalEncoding(nn.Module):
    """Base class: declares the family and answers all three hooks with ``None``.

    Args:
        d_model: model width.
        n_heads: number of attention heads.
        max_len: the model's maximum length; only encodings with a position table use it.
        causal: whether attention is causal (decoder) or bidirectional (encoder).
    """

    name: ClassVar[str]
    family: ClassVar[Family]
    description: ClassVar[str]
    #: the same tokens at positions c.. and 0.. give the same logits (relative encodings)
    shift_invariant: ClassVar[bool]
    #: KV-cached decoding equals one full forward pass (False where the design makes it differ)
    exact_cache: ClassVar[bool] = True
    #: keys may be cached after ``qk_transform`` (their transform depends on their own position
    #: alone); False: the cache keeps raw keys and every step transforms all of them again
    caches_transformed_keys: ClassVar[bool] = True
    #: defined for causal attention only; building it with ``causal=False`` is an error
    causal_only: ClassVar[bool] = False
    #: the registry name of the encoding this one modifies (RoPE's scaling variants), or None.
    #: ``--encodings all`` means every encoding that is not a variant.
    variant_of: ClassVar[str | None] = None
    #: constructor options under which the encoding differs from its defaults' trivial case
    #: (a RoPE scaling variant at scale 1 is plain RoPE): what tests build it with
    check_options: ClassVar[dict[str, Any]] = {}
    #: largest number of positions the encoding can represent, or None if unbounded
    max_len: int | None = None

    def __init__(self, *, d_model: int, n_heads: int, max_len: int, causal: bool = True) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        if self.causal_only and not causal:
            raise InputError(f"the {self.name} encoding is defined for causal attention only")
        self.d_model = d_model
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.causal = causal

    def embedding(self, positions: Tensor, dtype: torch.dtype) -> Tensor | None:
        """(T, d_model) vectors to add to the token embeddings at these positions, or None."""
        return None

    def qk_transform(self, positions: Tensor, dtype: torch.dtype, reference: int | None = None) -> QKTransform | None:
        """The transform of queries and keys at these positions, or None.

        ``reference`` is a position the transform may be centred on (the newest query's, the
        same for the query and the key transform of one forward pass). The model passes it
        only to an encoding that does not cache transformed keys; one that does must not
        depend on it.
        """
        return None

    def attention_bias(self, dtype: torch.dtype) -> AttentionBias | None:
        """The bias on attention logits, built once per forward pass, or None."""
        return None

    @classmethod
    def layers_needed(cls) -> int:
        """The fewest layers a model with this encoding may have (a schedule: as many as it names)."""
        return 1

    def layer_context(self) -> LayerContext | None:
        """A contextual encoding's part in one layer, a new module for each layer that asks, or None."""
        return None

    def for_layer(self, index: int) -> PositionalEncoding:
        """The encoding layer ``index`` uses: this one, except in a schedule (schedule.py)."""
        return self

    def layer_window(self, index: int) -> int | None:
        """How many of the latest keys layer ``index`` sees (sliding-window attention), or None: all."""
        return None

    def state_bytes(self) -> int:
        """Bytes of non-parameter state decoding needs besides the KV cache and the weights.

        Buffers and constant tensors: T5's bucket index, ALiBi's slopes, RoPE's frequencies.
        Memoized cos/sin rows (``PositionRowCache``) are left out: they are a speed-up whose size
        depends on the largest position seen so far, not state the encoding needs.
        """
        buffers = sum(b.nbytes for b in self.buffers())
        return buffers + sum(v.nbytes for v in vars(self).values() if isinstance(v, Tensor))

    def extra_repr(self) -> str:
        return f"family={self.family.value}, max_len={self.max_len}"
