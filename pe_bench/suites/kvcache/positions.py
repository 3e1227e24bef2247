"""What happens far from position zero: shift invariance and numeric precision.

Shift invariance decides whether a cached prefix can be reused at another offset (prompt
caching, sliding windows): run the same tokens at positions c .. c+T-1 and at 0 .. T-1 and
compare the logits. Relative encodings should agree to round-off; absolute ones should not.

Precision asks how exactly an encoding is computed at large positions, against float64:
RoPE's q.k after rotation and the sinusoidal table entries, each computed two ways:

- ``qk`` / ``table``: as pe-bench does it — angles p * theta in float64, then the cos/sin
  (or table rows) rounded to the working dtype;
- ``qk_angles_in_dtype`` / ``table_angles_in_dtype``: the position and the angle computed in
  the working dtype itself, as many implementations do (``arange(T, dtype=float32)``).
"""

from __future__ import annotations

import math

import torch

from pe_bench.encodings.rope import rope_cos_sin, rope_inv_freq, rotate_halves
from pe_bench.encodings.sinusoidal import sinusoidal_encoding
from pe_bench.errors import Unsupported
from pe_bench.model import Transformer
from pe_bench.runtime import DTYPES, Runtime

#: RoPE's q.k is checked between a query at position p and a key this far before it
QK_DISTANCE = 7


def shift_difference(model: Transformer, tokens: torch.Tensor, offset: int) -> float:
    """Max |logits at positions offset.. - logits at positions 0..| for the same tokens."""
    T = tokens.shape[1]
    positions = torch.arange(T, device=tokens.device)
    with torch.no_grad():
        base = model(tokens, positions=positions)
        shifted = model(tokens, positions=positions + offset)
    return (shifted.float() - base.float()).abs().max().item()


def shift_rows(models: dict[str, Transformer], backend: str, offsets: tuple[int, ...], seq_len: int,
               runtime: Runtime, seed: int = 0) -> list[dict]:
    """One row per encoding x offset: the logit difference the offset causes."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 256, (1, seq_len), generator=generator).to(runtime.device)
    rows = []
    for name, model in models.items():
        model.backend = backend
        for offset in offsets:
            row = {"encoding": name, "backend": backend, "offset": offset, "seq_len": seq_len,
                   "max_abs_logit_diff": math.nan, "supported": True, "note": ""}
            try:
                row["max_abs_logit_diff"] = shift_difference(model, tokens, offset)
            except Unsupported as e:
                row.update(supported=False, note=str(e))
            rows.append(row | runtime.record())
    return rows


def _rope_qk_error(position: int, q: torch.Tensor, k: torch.Tensor, dtype: torch.dtype,
                   angles_in_dtype: bool) -> tuple[float, float]:
    """|q.k after rotation in ``dtype`` - the same in float64|, absolute and relative to |q||k|."""
    head_dim = q.shape[0]
    positions = torch.tensor([position, position - QK_DISTANCE])
    inv_freq = rope_inv_freq(head_dim)
    cos, sin = rope_cos_sin(positions, inv_freq)  # float64, (2, d/2)
    exact = rotate_halves(q, cos[0], sin[0]) @ rotate_halves(k, cos[1], sin[1])
    if angles_in_dtype:
        angles = positions.to(dtype)[:, None] * inv_freq.to(dtype)[None, :]
        cos, sin = torch.cos(angles), torch.sin(angles)
    else:
        cos, sin = cos.to(dtype), sin.to(dtype)
    qr = rotate_halves(q.to(dtype), cos[0], sin[0]).double()
    kr = rotate_halves(k.to(dtype), cos[1], sin[1]).double()
    error = (qr @ kr - exact).abs().item()
    return error, error / (q.norm() * k.norm()).item()


def _table_error(position: int, dim: int, dtype: torch.dtype, angles_in_dtype: bool) -> tuple[float, float]:
    p = torch.tensor([position])
    exact = sinusoidal_encoding(p, dim)[0]  # float64
    if angles_in_dtype:
        angles = p.to(dtype)[:, None] * rope_inv_freq(dim).to(dtype)[None, :]
        got = torch.stack((torch.sin(angles), torch.cos(angles)), dim=-1).reshape(-1)  # interleaved
    else:
        got = exact.to(dtype)
    error = (got.double() - exact).abs().max().item()
    return error, error / exact.abs().max().item()


def precision_rows(head_dim: int, d_model: int, max_exponent: int, seed: int = 0) -> list[dict]:
    """Errors against float64 at positions 2^3 .. 2^max_exponent, in every dtype.

    Computed on the CPU, where every dtype is available: this measures each dtype's
    arithmetic, which IEEE rounding makes the same on any device up to the last ulp of
    sin/cos.
    """
    rows = []
    for dtype_name, dtype in DTYPES.items():
        for exponent in range(3, max_exponent + 1):
            position = 2**exponent  # the query's position; RoPE's key sits QK_DISTANCE before it
            generator = torch.Generator().manual_seed(seed + exponent)
            q, k = torch.randn(2, head_dim, dtype=torch.float64, generator=generator).unbind(0)
            for angles_in_dtype in (False, True):  # both ways on the same q and k
                suffix = "_angles_in_dtype" if angles_in_dtype else ""
                rope = _rope_qk_error(position, q, k, dtype, angles_in_dtype)
                table = _table_error(position, d_model, dtype, angles_in_dtype)
                for encoding, quantity, (abs_error, rel_error) in (("rope", "qk" + suffix, rope),
                                                                   ("sinusoidal", "table" + suffix, table)):
                    rows.append({"encoding": encoding, "position": position, "dtype": dtype_name,
                                 "quantity": quantity, "abs_error": abs_error, "rel_error": rel_error,
                                 "device": "cpu", "torch_version": torch.__version__})
    return rows
