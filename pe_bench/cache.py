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
        policy: ``full``, ``window`` or ``sinks``.
        sinks: number of sink tokens kept by ``sinks`` (must be 0 for the other policies).
        position_rule: ``original`` or ``slot``.
        dtype, device: of the buffers; match the model.
    """

    def __init__(self, *, n_layers: int, batch_size: int, n_heads: int, head_dim: int, capacity: int,
                 policy: str = "full", sinks: int = 0, position_rule: str = "original",
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> None:
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
        return (self.k.nbytes + self.v.nbytes) // (self.capacity * batch)

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
            undo["evicted"] = (self.k[:, :, :, self._oldest].clone(), self.v[:, :, :, self._oldest].clone())
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
        return CacheStep(q_pos=k_pos[slots], k_pos=k_pos, kv_len=self.length, slots=slots, undo=undo)

    def undo(self, step: CacheStep) -> None:
        """Put the cache back as it was before ``reserve`` returned ``step``."""
        saved = step.undo
        self.slot_positions[step.slots] = saved["slot_positions"]
        if "evicted" in saved:
            self.k[:, :, :, saved["oldest"]], self.v[:, :, :, saved["oldest"]] = saved["evicted"]
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

    def update(self, layer: int, step: CacheStep, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write this step's keys/values (B, H, T, D) for ``layer``; return the full (B, H, S, D) buffers."""
        self.k[layer][:, :, step.slots] = k
        self.v[layer][:, :, step.slots] = v
        return self.k[layer], self.v[layer]
