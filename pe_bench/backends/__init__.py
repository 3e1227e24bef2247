"""Attention backends, chosen by name: ``eager``, ``sdpa``, ``sdpa-dense`` and ``flex``.

All compute softmax(Q K^T / sqrt(D) + bias) V under the same mask and agree to
float32 round-off; they differ in how the bias gets in (eager.py, sdpa.py, flex.py). ``sdpa`` uses a bias's
fast path where it declares one (fold.py); ``sdpa-dense`` is the same SDPA with the bias
always as a dense mask, kept so the speed suite shows what the fast paths save.
Keys and values may be a KV cache's preallocated buffers: slots [0, kv_len) are valid and
the rest are masked (eager and SDPA slice them off; flex keeps the fixed shape).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from pe_bench.backends.eager import eager_attention
from pe_bench.backends.flex import flex_attention
from pe_bench.backends.inputs import AttentionInputs
from pe_bench.backends.sdpa import sdpa_attention, sdpa_dense_attention
from pe_bench.backends.causal_bias import missing_flash_ops
from pe_bench.errors import InputError

Backend = Callable[[Tensor, Tensor, Tensor, AttentionInputs], Tensor]

BACKENDS: dict[str, Backend] = {
    "eager": eager_attention,
    "sdpa": sdpa_attention,
    "sdpa-dense": sdpa_dense_attention,
    "flex": flex_attention,
}


#: backend -> why its fast paths for a bias that does not fold cannot run on a device (None: they can)
FAST_PATH_UNAVAILABLE: dict[str, Callable[[torch.device], str | None]] = {"sdpa": missing_flash_ops}


def fast_path_note(backend: str, bias: object, device: torch.device) -> str:
    """A row's note when ``backend`` falls back to the dense path for ``bias`` on ``device``; else ''.

    A bias that folds (``causal_fold``) runs the public SDPA on any device; every other bias
    reaches the fused kernel through torch's CPU flash ops (split.py, causal_bias.py).
    """
    if backend not in FAST_PATH_UNAVAILABLE or bias is None:
        return ""
    fold = getattr(bias, "causal_fold", None)  # a duck-typed bias may not have the optional method
    positions = torch.arange(4)
    if fold is not None and fold(positions, positions) is not None:
        return ""
    return FAST_PATH_UNAVAILABLE[backend](device) or ""


def check_backend(name: str) -> str:
    """``name`` if it is a backend; otherwise InputError listing the valid ones."""
    if name not in BACKENDS:
        raise InputError(f"unknown backend '{name}'; valid: {', '.join(BACKENDS)}")
    return name


__all__ = ["BACKENDS", "AttentionInputs", "Backend", "check_backend", "fast_path_note"]
