"""One KV cache per attention span, for a schedule whose sliding-window layers keep only their window.

A schedule such as ``swa-rope-nope`` (schedule.py) mixes global layers with layers that see the
latest W keys. A single cache would hold every token for every layer; here the global layers
share one ``KVCache`` with the policy asked for, and each window's layers another of W slots
(a ``window`` ring), so those layers' memory stays W tokens however long the stream. Every cache
reserves its own slots for a step; each layer reads the step of its own span. What the window
cache of a span keeps, for a cache asked for with ``policy`` over ``capacity`` slots:

- a ring of the latest W keys, when W fits beside the sinks (W <= capacity - sinks; sinks = 0
  for ``full`` and ``window``): those are all the layer can see;
- otherwise the same policy and size as the global layers' cache (the cache bounds the layer
  more than its window does), and the model masks the keys more than W positions back (a sinks
  cache's sinks, once the stream is past them).

A window's own ring keeps original positions whatever rule the global layers' cache uses: the
``slot`` rule renumbers what the global layers see, and a ring of W keys holds nothing further
back to renumber (it also lets a long prefill spill through the ring, which slot positions
cannot).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from pe_bench.cache import CacheStep, KVCache


@dataclass
class LayerSteps:
    """One step of every span's cache; ``q_pos`` is the global layers' (what an embedding would use)."""

    steps: dict[int | None, CacheStep]
    main: int | None

    @property
    def q_pos(self) -> Tensor:
        return self.steps[self.main].q_pos


class LayerCaches:
    """The caches of a model whose layers see different spans: ``spans[i]`` is layer i's window or None."""

    def __init__(self, spans: list[int | None], make: Callable[[int, int, str, int, str], KVCache], capacity: int,
                 policy: str, sinks: int, rule: str) -> None:
        self.where: dict[int, tuple[int | None, int]] = {}
        layers: dict[int | None, int] = {}
        for i, span in enumerate(spans):
            self.where[i] = (span, layers.get(span, 0))
            layers[span] = layers.get(span, 0) + 1
        self.caches = {span: make(n, *self._shape(span, capacity, policy, sinks, rule)) for span, n in layers.items()}
        self.main = None if None in self.caches else min(self.caches)

    @staticmethod
    def _shape(span: int | None, capacity: int, policy: str, sinks: int, rule: str) -> tuple[int, str, int, str]:
        """(capacity, policy, sinks, position rule) of the cache of layers seeing ``span`` keys."""
        if span is None or span > capacity - sinks or (policy == "full" and span >= capacity):
            return capacity, policy, sinks, rule
        return span, "window", 0, "original"

    def __getattr__(self, name: str) -> object:
        """Everything else (policy, capacity, length, default_positions, ...) is the global layers' cache's."""
        if name in ("caches", "main", "where"):
            raise AttributeError(name)
        return getattr(self.caches[self.main], name)

    def reserve(self, positions: Tensor) -> LayerSteps:
        steps: dict[int | None, CacheStep] = {}
        try:
            for span, cache in self.caches.items():
                steps[span] = cache.reserve(positions)
        except BaseException:
            self.undo(LayerSteps(steps, self.main))
            raise
        return LayerSteps(steps, self.main)

    def undo(self, step: LayerSteps) -> None:
        for span, one in step.steps.items():
            self.caches[span].undo(one)

    def reset(self) -> None:
        for cache in self.caches.values():
            cache.reset()

    def layer(self, layer: int, step: LayerSteps) -> tuple[KVCache, CacheStep, int]:
        span, index = self.where[layer]
        return self.caches[span], step.steps[span], index

    def bytes_per_token(self) -> int:
        """Bytes per cached token of the global layers; the windowed layers' are a fixed cost (extra_bytes)."""
        return self.caches[self.main].bytes_per_token() if None in self.caches else 0

    def extra_bytes(self) -> int:
        """Bytes held whatever the length: the windowed layers' whole caches, and the slot index."""
        windowed = sum(c.k.nbytes + c.v.nbytes + (c.state.nbytes if c.state is not None else 0)
                       for span, c in self.caches.items() if span is not None)
        return windowed + sum(c.extra_bytes() for c in self.caches.values())
