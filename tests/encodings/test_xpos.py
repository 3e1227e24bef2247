"""xPos against its definition (Sun et al. 2022), written out here with complex numbers."""

import math

import pytest
import torch

from pe_bench.encodings.xpos import XPos, xpos_zeta
from pe_bench.errors import InputError
from pe_bench.model import build_model


def reference_logit(q: torch.Tensor, k: torch.Tensor, i: int, j: int, base: float = 10000.0) -> torch.Tensor:
    """<xPos(q, i), xPos(k, j)> from the paper: pair (x_k, x_{k+d/2}) as a complex number, rotated
    by p * theta_k; the query scaled by zeta_k^(i/512), the key by zeta_k^(-j/512)."""
    d = q.shape[-1]
    half = d // 2
    total = torch.zeros((), dtype=torch.float64)
    for pair in range(half):
        theta = base ** (-2 * pair / d)
        zeta = (2 * pair + 0.4 * d) / (1.4 * d)
        qc = complex(q[pair], q[pair + half]) * complex(math.cos(i * theta), math.sin(i * theta)) * zeta ** (i / 512)
        kc = complex(k[pair], k[pair + half]) * complex(math.cos(j * theta), math.sin(j * theta)) * zeta ** (-j / 512)
        total += (qc * kc.conjugate()).real
    return total


def test_zeta_is_the_papers():
    assert torch.allclose(xpos_zeta(8), torch.tensor([0.4 * 8, 2 + 3.2, 4 + 3.2, 6 + 3.2], dtype=torch.float64)
                          / (1.4 * 8))


@pytest.mark.parametrize("i,j", [(0, 0), (5, 3), (700, 10), (3000, 2990)])
def test_query_key_dot_product_equals_the_definition_whatever_the_reference(i, j):
    enc = XPos(d_model=32, n_heads=4, max_len=64)  # head_dim 8
    q, k = torch.randn(2, 8, dtype=torch.float64).unbind(0)
    positions = torch.tensor([i, j])
    for reference in (0, i, 10_000):
        transform = enc.qk_transform(positions, torch.float64, reference)
        qr = transform.queries(q[None, None, None, :].expand(1, 1, 2, 8))[0, 0, 0]
        kr = transform.keys(k[None, None, None, :].expand(1, 1, 2, 8))[0, 0, 1]
        assert torch.allclose(qr @ kr, reference_logit(q, k, i, j), rtol=1e-9, atol=1e-9)


def test_a_key_before_the_query_is_scaled_down_by_zeta_to_the_distance_over_512():
    """Centred on the query (reference 2048), the key 2048 positions back carries the whole
    decay: its cos/sin pair has length zeta^(2048/512) <= 1, the query's has length 1."""
    transform = XPos(d_model=32, n_heads=4, max_len=64).qk_transform(torch.tensor([2048, 0]), torch.float64, 2048)
    zeta = xpos_zeta(8)
    assert torch.allclose(transform.key_cos[1] ** 2 + transform.key_sin[1] ** 2, zeta ** (2 * 2048 / 512))
    assert torch.allclose(transform.cos[0] ** 2 + transform.sin[0] ** 2, torch.ones(4, dtype=torch.float64))


def test_the_cache_keeps_raw_keys_and_decoding_equals_the_full_forward():
    model = build_model("xpos", "tiny").eval()
    tokens = torch.randint(0, 256, (1, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(tokens)
        cache = model.new_cache(1, 40)
        parts = [model(tokens[:, :9], cache=cache)] + [model(tokens[:, t:t + 1], cache=cache) for t in range(9, 40)]
        block = model.blocks[0]
        hidden = block.norm1(model.token_embedding(tokens) * math.sqrt(32))
        raw_k = block.attention.qkv(hidden).split(32, dim=-1)[1].view(1, 40, 4, 8).transpose(1, 2)  # (B, H, T, D)
    assert (torch.cat(parts, 1) - full).abs().max() <= 1e-4
    assert torch.allclose(cache.k[0], raw_k, atol=1e-6)  # layer 0's cache holds keys before the transform


def test_positions_near_two_to_the_twenty_stay_finite_and_relative():
    model = build_model("xpos", "tiny").eval()
    tokens = torch.randint(0, 256, (1, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        near, far = model(tokens), model(tokens, positions=torch.arange(24) + 2 ** 20)
    assert torch.isfinite(far).all() and (near - far).abs().max() <= 1e-4


def test_bidirectional_is_refused():
    with pytest.raises(InputError, match="causal attention only"):
        XPos(d_model=32, n_heads=4, max_len=64, causal=False)
