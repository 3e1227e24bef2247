"""dS = P * (dO Vᵀ - rowsum(dO * O)) against autograd through softmax attention written out."""

import torch

from pe_bench.backends.score_gradient import block_score_gradient, row_dots, shared_by_batch


def test_the_score_gradient_of_a_block_is_autograds():
    g = torch.Generator().manual_seed(0)
    B, H, T, D = 2, 3, 7, 4
    q, k, v, d_out = (torch.randn(B, H, T, D, generator=g, dtype=torch.float64) for _ in range(4))
    bias = torch.randn(1, H, T, T, generator=g, dtype=torch.float64, requires_grad=True)
    scores = q @ k.transpose(-2, -1) / D ** 0.5 + bias  # (B, H, T, T)
    p = torch.softmax(scores, dim=-1)
    out = p @ v
    (out * d_out).sum().backward()
    dots = row_dots(d_out, out.detach())
    blocks = [block_score_gradient(p.detach()[..., a:a + 3, :], d_out[..., a:a + 3, :], v, dots[..., a:a + 3, :])
              for a in range(0, T, 3)]  # blocks of queries, as the backends take them
    d_scores = torch.cat(blocks, dim=-2)
    torch.testing.assert_close(shared_by_batch(d_scores, 1), bias.grad)
    assert shared_by_batch(d_scores, B) is d_scores  # a bias per sequence: its own rows
