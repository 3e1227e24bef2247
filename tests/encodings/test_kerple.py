"""KERPLE's two kernels against their formulas, worked out by hand at distances 0 and 10."""

import math

import pytest
import torch

from pe_bench.encodings.kerple import KerpleLog, KerplePower, kerple_log_bias, kerple_power_bias


def test_log_kernel_by_hand():
    r1, r2 = torch.tensor([1.0, 0.5]), torch.tensor([0.5, 2.0])
    bias = kerple_log_bias(torch.tensor([0, 10]), r1, r2)  # (H, 2)
    assert bias.shape == (2, 2)
    assert torch.equal(bias[:, 0], torch.zeros(2))  # log(1) = 0: no penalty at distance 0
    # head 0: -1 * log(1 + 0.5 * 10) = -log 6 = -1.791759; head 1: -0.5 * log(21) = -1.522261
    assert bias[:, 1].tolist() == pytest.approx([-1.791759, -1.522261], abs=1e-6)


def test_power_kernel_by_hand():
    r1, r2 = torch.tensor([1.0, 0.5]), torch.tensor([0.5, 2.0])
    bias = kerple_power_bias(torch.tensor([0, 10]), r1, r2)
    assert torch.equal(bias[:, 0], torch.zeros(2))  # 0^r2 = 0 for r2 > 0
    # head 0: -1 * 10^0.5 = -3.162278; head 1: -0.5 * 10^2 = -50
    assert bias[:, 1].tolist() == pytest.approx([-3.162278, -50.0], abs=1e-5)


def test_one_head_at_a_time_as_a_score_mod_calls_it():
    r1, r2 = torch.tensor([1.0, 0.5]), torch.tensor([0.5, 2.0])
    for kernel in (kerple_log_bias, kerple_power_bias):
        assert kernel(torch.tensor(10), r1[1], r2[1]).item() == pytest.approx(kernel(torch.tensor([10]), r1, r2)[1, 0])


@pytest.mark.parametrize("cls, kernel", [(KerpleLog, kerple_log_bias), (KerplePower, kerple_power_bias)])
def test_materialize_and_score_mod_are_the_kernel_of_the_distance(cls, kernel):
    enc = cls(d_model=32, n_heads=4, max_len=64)
    bias = enc.attention_bias(torch.float32)
    q_pos, k_pos = torch.tensor([0, 5, 40]), torch.tensor([0, 3, 5, 39, 60])
    dense, mod = bias.materialize(q_pos, k_pos), bias.score_mod(q_pos, k_pos)
    assert dense.shape == (4, 3, 5)
    for h in range(4):
        r1, r2 = enc.r1[h].item(), enc.r2[h].item()
        for a, i in enumerate(q_pos.tolist()):
            for b, j in enumerate(k_pos.tolist()):
                d = abs(i - j)
                expected = -r1 * (math.log(1 + r2 * d) if cls is KerpleLog else d ** r2)
                assert dense[h, a, b].item() == pytest.approx(expected, abs=1e-4)
                got = mod(torch.tensor(0.0), torch.tensor(0), torch.tensor(h), torch.tensor(a), torch.tensor(b))
                assert got.item() == pytest.approx(dense[h, a, b].item(), abs=1e-6)


def test_init_ranges_and_clamps():
    torch.manual_seed(0)
    enc = KerplePower(d_model=64, n_heads=64, max_len=64)
    assert 0 <= enc.r1.min() and enc.r1.max() < 2 and enc.r1.max() > 1  # U(0, 2)
    assert 0 <= enc.r2.min() and enc.r2.max() < 1  # U(0, 1)
    with torch.no_grad():
        enc.r1[0], enc.r2[0], enc.r2[1] = -1.0, 0.0, 5.0
    bias = enc.attention_bias(torch.float32)
    assert bias.r1[0].item() == pytest.approx(0.01) and bias.r2[0].item() == pytest.approx(0.01)
    assert bias.r2[1].item() == 2.0  # the power kernel's r2 <= 2
    log = KerpleLog(d_model=64, n_heads=64, max_len=64)
    with torch.no_grad():
        log.r2[1] = 5.0
    assert log.attention_bias(torch.float32).r2[1].item() == 5.0  # the log kernel has no upper bound
