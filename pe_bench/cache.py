"""An explicit KV cache: preallocated buffers, every slot's position tracked.

Three policies decide which tokens stay once the cache is full:

- ``full``: nothing is evicted; ``capacity`` is the longest sequence the cache can hold.
- ``window``: the last ``capacity`` tokens (a sliding window).
- ``sinks``: the first ``sinks`` tokens stay forever, the other ``capacity - sinks`` slots
  hold the most recent tokens (StreamingLLM's attention sinks).

Two rules decide which position a cached token has when attention runs:

- ``original``: the position it was written with, forever. RoPE keys are cached already
  rotated and a step rotates only the new token.
- ``slot``: its rank in the cache (0 = oldest kept token), recomputed at every step, as
  StreamingLLM does. A cached key's position changes as the window slides, so RoPE keys are
  cached before rotation and every cached key is rotated again at every step.

Window and sink caches are rings: the slot a new token overwrites is the oldest non-sink
slot, so a step copies one token per layer, never the whole window. Shape letters: L
layers, B batch, H heads, S slots (= capacity), D head_dim.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from pe_bench.errors import InputError

POLICIES = ("full", "window", "sinks")
POSITION_RULES = ("original", "slot")


@dataclass
class CacheStep:
    """Where one forward pass's new tokens go and which positions attention uses."""

    q_pos: Tensor  # (T,) positions attention uses for the new tokens
    k_pos: Tensor  # (S,) positions attention uses for every slot, new tokens included
    kv_len: int  # valid slots after this step
    slots: slice | Tensor  # where the new tokens are written
    undo: dict = field(default_factory=dict, repr=False)  # what ``KVCache.undo`` restores
    previous: int | None = None  # the slot of the newest token before this step (None: the cache was empty)
    #: a step that overflows a window or sinks cache (a long prefill, a chunk): attention runs over the
    #: kept tokens and this step's, oldest first (``past`` are the cached ones' slots), under this (T, m + T)
    #: mask, and the cache keeps what the policy keeps of them (``kept``, indices into that list)
    allowed: Tensor | None = None
    past: Tensor | None = None
    kept: Tensor | None = None

    @property
    def spills(self) -> bool:
        return self.kept is not None

    def merge(self, buffer: Tensor, new: Tensor) -> Tensor:
        """A spilling step's keys (or values, or state), the cached ones oldest first then ``new``; the
        policy's share of them written back into ``buffer`` (B, H, S, ...)."""
        merged = torch.cat([buffer[:, :, self.past], new], dim=2)
        buffer[:, :, : len(self.kept)] = merged[:, :, self.kept]
        return merged


@dataclass
class LayerState:
    """One layer's per-token state in a KV cache for one step (a contextual encoding's, e.g. FoX's
    running sums): ``state_size`` numbers per head beside each cached key."""

    cache: KVCache
    step: CacheStep
    layer: int

    def previous(self) -> Tensor | None:
        """(B, H, n): the newest token's state before this step, or None when the cache was empty."""
        slot = self.step.previous
        return None if slot is None else self.cache.state[self.layer][:, :, slot]

    def write(self, values: Tensor) -> Tensor:
        """Store this step's (B, H, T, n) values; returns every key slot's, (B, H, S, n) (a spilling step's
        merged list)."""
        buffer = self.cache.state[self.layer]
        if self.step.spills:
            return self.step.merge(buffer, values)
        buffer[:, :, self.step.slots] = values
        return buffer


def policy_mask(n: int, window: int, sinks: int, device: torch.device | str = "cpu") -> Tensor:
    """(n, n) bool: the keys a ``window`` (sinks = 0) or ``sinks`` cache holds for each query.

    Query i sees key j <= i if j is one of the last ``window - sinks`` tokens, or one of the
    first ``sinks``: a full forward with this mask is what decoding with that cache computes
    under original positions.
    """
    i = torch.arange(n, device=device)[:, None]
    j = torch.arange(n, device=device)[None, :]
    return (j <= i) & ((j > i - (window - sinks)) | (j < sinks))


class KVCache:
    """Keys and values of every layer in preallocated (L, B, H, S, D) buffers.

    Args:
        n_layers, batch_size, n_heads, head_dim: the model's shape.
        capacity: number of slots S (the window size for ``window`` and ``sinks``).
        state_size: numbers per head kept beside each key (a contextual encoding's, ``LayerState``); 0: none.
        policy: ``full``, ``window`` or ``sinks``.
        sinks: number of sink tokens kept by ``sinks`` (must be 0 for the other policies).
        position_rule: ``original`` or ``slot``.
        dtype, device: of the buffers; match the model.
    """

    def __init__(self, *, n_layers: int, batch_size: int, n_heads: int, head_dim: int, capacity: int,
                 policy: str = "full", sinks: int = 0, position_rule: str = "original",
                 state_size: int = 0, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu") -> None:
        if policy not in POLICIES:
            raise InputError(f"unknown cache policy '{policy}'; valid: {', '.join(POLICIES)}")
        if position_rule not in POSITION_RULES:
            raise InputError(f"unknown position rule '{position_rule}'; valid: {', '.join(POSITION_RULES)}")
        if capacity < 1:
            raise InputError(f"cache capacity must be >= 1, got {capacity}")
        if policy == "sinks" and not 0 < sinks < capacity:
            raise InputError(f"sinks must be between 1 and capacity - 1 = {capacity - 1}, got {sinks}")
        if policy != "sinks" and sinks:
            raise InputError(f"sinks={sinks} needs policy 'sinks', not '{policy}'")
        self.policy = policy
        self.position_rule = position_rule
        self.capacity = capacity
        self.sinks = sinks
        shape = (n_layers, batch_size, n_heads, capacity, head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.state = torch.zeros((*shape[:-1], state_size), dtype=dtype, device=device) if state_size else None
        self.slot_positions = torch.zeros(capacity, dtype=torch.long, device=device)  # original positions
        self.reset()

    def reset(self) -> None:
        """Forget every token (the buffers are reused)."""
        self.slot_positions.zero_()
        self.length = 0  # valid slots, [0, length)
        self.next_position = 0  # default position of the next token
        self.tokens_seen = 0
        self._oldest = self.sinks  # ring slot to overwrite next, once full

    @property
    def stores_transformed_keys(self) -> bool:
        """True when keys may be cached after the encoding's transform (RoPE's rotation): positions
        never change under ``original``. An encoding can still ask for raw keys
        (``caches_transformed_keys = False``)."""
        return self.position_rule == "original"

    @property
    def is_full(self) -> bool:
        """Every slot holds a token (a window or sinks cache evicts from now on)."""
        return self.length == self.capacity

    def bytes_per_token(self) -> int:
        """Bytes of key and value buffers per cached token of one sequence."""
        batch = self.k.shape[1]
        state = self.state.nbytes if self.state is not None else 0
        return (self.k.nbytes + self.v.nbytes + state) // (self.capacity * batch)

    def extra_bytes(self) -> int:
        """Bytes held besides keys and values (the slot position index)."""
        return self.slot_positions.nbytes

    def default_positions(self, n: int) -> Tensor:
        """Positions the next ``n`` tokens get when the caller gives none: the stream goes on."""
        return torch.arange(self.next_position, self.next_position + n, device=self.k.device)

    def reserve(self, positions: Tensor) -> CacheStep:
        """Choose slots for ``len(positions)`` new tokens, evicting if the policy says so.

        Call once per forward pass, before the layers write with ``update``; if the forward
        fails, ``undo(step)`` puts the cache back as it was.
        """
        n = positions.shape[0]
        undo = {"length": self.length, "next_position": self.next_position, "tokens_seen": self.tokens_seen,
                "oldest": self._oldest}
        previous = self._newest_slot()
        if self.policy != "full" and self.length + n > self.capacity and n > 1 and self.position_rule == "original":
            return self._reserve_spill(positions, undo, previous)
        if self.length + n <= self.capacity:
            slots: slice | Tensor = slice(self.length, self.length + n)
            self.length += n
        elif self.policy == "full":
            raise InputError(
                f"KV cache is full: capacity {self.capacity}, holding {self.length}, asked for {n} more"
            )
        elif n == 1:
            slots = torch.tensor([self._oldest], device=self.k.device)
            # the token being evicted, in case this forward fails and must be undone
            undo["evicted"] = [t[:, :, :, self._oldest].clone() for t in self._buffers()]
            ring = self.capacity - self.sinks
            self._oldest = self.sinks + (self._oldest - self.sinks + 1) % ring
        else:
            raise InputError(
                f"a {self.policy} cache takes several tokens at once only while they fit "
                f"({self.capacity - self.length} free slots, {n} tokens); feed them one at a time"
            )
        undo["slot_positions"] = self.slot_positions[slots].clone()
        self.slot_positions[slots] = positions
        self.next_position = int(positions[-1]) + 1
        self.tokens_seen += n
        k_pos = self.slot_positions if self.position_rule == "original" else self.slot_ranks()
        return CacheStep(q_pos=k_pos[slots], k_pos=k_pos, kv_len=self.length, slots=slots, undo=undo, previous=previous)

    def _reserve_spill(self, positions: Tensor, undo: dict, previous: int | None) -> CacheStep:
        """Several tokens that overflow a window or sinks cache (a long prefill, a chunk): attention runs
        over the cached tokens and these, oldest first, under the policy's mask, and the cache keeps what
        the policy keeps, as if they had been fed one at a time (original positions only)."""
        n, device, ring = positions.shape[0], positions.device, self.capacity - self.sinks
        if self.is_full:  # slots oldest first, and which token of the stream each holds
            past = torch.cat([torch.arange(self.sinks), self.sinks + (torch.arange(ring) + self._oldest - self.sinks) % ring])
            index = torch.cat([torch.arange(self.sinks), torch.arange(self.tokens_seen - ring, self.tokens_seen)])
        else:  # nothing evicted yet: slot i holds token i
            past = index = torch.arange(self.length)
        index = torch.cat([index, torch.arange(self.tokens_seen, self.tokens_seen + n)]).to(device)
        u, v = index[-n:, None], index[None, :]
        allowed = (v <= u) & ((v > u - ring) | (v < self.sinks))
        kept = torch.nonzero((index < self.sinks) | (index >= self.tokens_seen + n - ring))[:, 0]
        undo["buffers"] = [t.clone() for t in self._buffers()]
        undo["slot_positions"] = self.slot_positions.clone()
        k_pos = torch.cat([self.slot_positions[past.to(device)], positions])
        self.slot_positions[:] = k_pos[kept]
        self.length, self._oldest = self.capacity, self.sinks
        self.next_position = int(positions[-1]) + 1
        self.tokens_seen += n
        return CacheStep(q_pos=positions, k_pos=k_pos, kv_len=k_pos.shape[0], slots=slice(0, self.capacity), undo=undo,
                         previous=previous, allowed=allowed, past=past.to(device), kept=kept)

    def _newest_slot(self) -> int | None:
        """The slot the latest token was written to, or None when the cache is empty."""
        if self.length < self.capacity:
            return self.length - 1 if self.length else None
        return self.sinks + (self._oldest - self.sinks - 1) % (self.capacity - self.sinks)

    def _buffers(self) -> list[Tensor]:
        return [self.k, self.v] + ([self.state] if self.state is not None else [])

    def undo(self, step: CacheStep) -> None:
        """Put the cache back as it was before ``reserve`` returned ``step``."""
        saved = step.undo
        self.slot_positions[step.slots] = saved["slot_positions"]
        if "buffers" in saved:  # a spilling step rewrote every slot
            for buffer, before in zip(self._buffers(), saved["buffers"]):
                buffer.copy_(before)
        if "evicted" in saved:
            for buffer, evicted in zip(self._buffers(), saved["evicted"]):
                buffer[:, :, :, saved["oldest"]] = evicted
        self.length, self.next_position = saved["length"], saved["next_position"]
        self.tokens_seen, self._oldest = saved["tokens_seen"], saved["oldest"]

    def slot_ranks(self) -> Tensor:
        """Each slot's age rank: 0 for the oldest token kept, length-1 for the newest; 0 for empty slots."""
        ranks = torch.arange(self.capacity, device=self.k.device)
        if self.is_full and self.policy != "full":
            ring = self.capacity - self.sinks
            ranks[self.sinks:] = self.sinks + (ranks[self.sinks:] - self._oldest) % ring
        ranks[self.length:] = 0  # empty slots are masked; 0 keeps any statistic of the ranks honest
        return ranks

    def layer(self, layer: int, step: CacheStep) -> tuple[KVCache, CacheStep, int]:
        """Where layer ``layer`` keeps its keys: this cache, this step, that index (layer_caches.py differs)."""
        return self, step, layer

    def update(self, layer: int, step: CacheStep, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write this step's keys/values (B, H, T, D) for ``layer``; return the full (B, H, S, D) buffers."""
        if step.spills:  # more tokens than the window has room for: attend over all, keep the policy's
            return step.merge(self.k[layer], k), step.merge(self.v[layer], v)
        self.k[layer][:, :, step.slots] = k
        self.v[layer][:, :, step.slots] = v
        return self.k[layer], self.v[layer]
