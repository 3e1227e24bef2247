import math

import pytest
import torch

from pe_bench.encodings.rope import RoPE, apply_rope


def reference_rope(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Halves pairing written with complex numbers: z_k = x_k + i x_{k+d/2}, rotated by p * theta_k."""
    d = x.shape[-1]
    out = torch.empty_like(x, dtype=torch.float64)
    for t, p in enumerate(positions.tolist()):
        for k in range(d // 2):
            theta = base ** (-2 * k / d)
            z = complex(x[..., t, k].item(), x[..., t, k + d // 2].item()) * complex(math.cos(p * theta), math.sin(p * theta))
            out[..., t, k], out[..., t, k + d // 2] = z.real, z.imag
    return out


def test_matches_complex_reference():
    x = torch.randn(5, 8, dtype=torch.float64)
    positions = torch.tensor([0, 1, 2, 50, 1000])
    assert torch.allclose(apply_rope(x, positions), reference_rope(x, positions), atol=1e-12)


def test_position_zero_is_identity():
    x = torch.randn(2, 3, 4, 16)
    assert torch.equal(apply_rope(x, torch.zeros(4, dtype=torch.long)), x)


def test_preserves_norms():
    x = torch.randn(2, 4, 32, 64, dtype=torch.float64)
    rotated = apply_rope(x, torch.arange(32) * 997)
    assert torch.allclose(rotated.norm(dim=-1), x.norm(dim=-1), atol=1e-10)


@pytest.mark.parametrize("offset", [0, 1, 100, 10_000, 1_000_000])
def test_dot_product_depends_only_on_position_difference(offset: int):
    q, k = torch.randn(2, 64, dtype=torch.float64).unbind(0)
    i, j = 37, 12
    base = torch.dot(apply_rope(q[None], torch.tensor([i]))[0], apply_rope(k[None], torch.tensor([j]))[0])
    shifted = torch.dot(apply_rope(q[None], torch.tensor([i + offset]))[0],
                        apply_rope(k[None], torch.tensor([j + offset]))[0])
    assert abs(base.item() - shifted.item()) < 1e-8


def test_module_rotation_matches_function_including_uncached_positions():
    enc = RoPE(d_model=64, n_heads=4, max_len=128)
    x = torch.randn(1, 4, 3, 16)
    for positions in (torch.tensor([0, 5, 6]), torch.tensor([3, 100_000, 2 ** 20])):
        rotation = enc.qk_transform(positions, torch.float32)
        assert torch.allclose(rotation.queries(x), apply_rope(x, positions), atol=1e-6)


def test_rejects_odd_head_dim_and_bad_positions():
    with pytest.raises(ValueError):
        apply_rope(torch.randn(3, 7), torch.arange(3))
    with pytest.raises(ValueError):
        apply_rope(torch.randn(3, 8), torch.arange(4))


def test_queries_and_keys_rotate_in_one_pass_per_layer(monkeypatch):
    """The model hands RoPE queries and keys together; one rotation per layer, same result as two."""
    from pe_bench.encodings import rope
    from pe_bench.model import build_model

    model = build_model("rope", "tiny").eval()
    tokens = torch.randint(0, 256, (2, 12))
    with torch.no_grad():
        expected = model(tokens)
        calls = []
        real = rope.rotate_halves
        monkeypatch.setattr(rope, "rotate_halves", lambda x, c, s: calls.append(x.shape) or real(x, c, s))
        got = model(tokens)
    assert len(calls) == model.config.n_layers and all(shape[0] == 2 for shape in calls)
    assert torch.equal(got, expected)
    qk = torch.randn(2, 2, 4, 12, 8)
    rotation = build_model("rope", "tiny").encoding.qk_transform(torch.arange(12), torch.float32)
    q, k = rotation.queries_and_keys(qk)
    assert torch.equal(q, rotation.queries(qk[0])) and torch.equal(k, rotation.keys(qk[1]))
