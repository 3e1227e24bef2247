"""FoX against its formula: the bias of hand-made gates, the fold, the gates from the layer's input, the cache."""

import math

import pytest
import torch

from pe_bench.backends.inputs import AttentionInputs
from pe_bench.encodings.fox import ForgetBias
from pe_bench.model import build_model

from conftest import tiny_model


def test_the_bias_is_the_sum_of_log_gates_between_key_and_query():
    f = torch.tensor([0.9, 0.5, 0.8, 0.25])  # gates of tokens 0..3, one head
    c = torch.log(f).cumsum(0)[None, None]  # (1, 1, 4)
    bias = ForgetBias(c, c).materialize(torch.arange(4), torch.arange(4))[0, 0]
    for i in range(4):
        for j in range(i + 1):
            by_hand = sum(math.log(f[t]) for t in range(j + 1, i + 1))  # 0 on the diagonal
            assert bias[i, j].item() == pytest.approx(by_hand, abs=1e-6)
    assert bias[3, 0].item() == pytest.approx(math.log(0.5 * 0.8 * 0.25), abs=1e-6)


def test_the_fold_gives_the_bias_up_to_a_constant_per_query():
    c = torch.randn(2, 3, 6).cumsum(-1)
    bias = ForgetBias(c, c)
    q_col, k_col = bias.causal_fold(torch.arange(6), torch.arange(6))
    folded = (q_col[..., :, None, :] * k_col[..., None, :, :]).sum(-1)  # (2, 3, 1 or 6, 6)
    dense = bias.materialize(torch.arange(6), torch.arange(6))  # (2, 3, 6, 6)
    shift = dense - folded.expand_as(dense)  # must not depend on the key
    lower = torch.tril(torch.ones(6, 6, dtype=torch.bool))
    spread = (shift - shift[..., :1]).masked_fill(~lower, 0)
    assert spread.abs().max() < 1e-5


def test_the_gates_come_from_each_layers_input():
    model = tiny_model("fox", encoding_options={"bias_init": 1.0}).eval()
    gate = model.blocks[0].attention.context.gate
    x = torch.randn(2, 5, 32)
    bias = model.blocks[0].attention.context.bias(x, None, None, torch.arange(5), None, None)
    expected = torch.nn.functional.logsigmoid(x @ gate.weight.T + gate.bias).transpose(1, 2).cumsum(-1)
    assert torch.allclose(bias.c_q, expected, atol=1e-6) and bias.c_q.shape == (2, 4, 5)
    assert torch.allclose(gate.bias, torch.ones(4))


def test_sdpa_runs_the_fold_and_never_builds_the_dense_bias(monkeypatch):
    model = tiny_model("fox", backend="sdpa")
    tokens = torch.randint(0, 256, (2, 17))
    eager = tiny_model("fox", backend="eager")
    monkeypatch.setattr(AttentionInputs, "_build_dense_mask", lambda self, dtype: pytest.fail("dense bias built"))
    loss = model.loss(tokens[:, :-1], tokens[:, 1:])
    loss.backward()
    monkeypatch.undo()
    reference = eager.loss(tokens[:, :-1], tokens[:, 1:])
    reference.backward()
    assert abs(loss.item() - reference.item()) < 1e-5
    gate, gate_eager = model.blocks[1].attention.context.gate, eager.blocks[1].attention.context.gate
    assert torch.allclose(gate.weight.grad, gate_eager.weight.grad, atol=1e-5)


def test_the_cache_keeps_one_number_per_head_per_token_beside_keys_and_values():
    model = build_model("fox", "tiny", seed=0)
    plain = build_model("nope", "tiny", seed=0)
    per_layer_head = model.config.n_layers * model.config.n_heads * 4  # float32
    assert model.new_cache(1, 16).bytes_per_token() - plain.new_cache(1, 16).bytes_per_token() == per_layer_head


def test_decay_time_max_spreads_the_heads_from_one_half_to_that_reach():
    model = tiny_model("fox", encoding_options={"decay_time_max": 64.0})  # 4 heads; it replaces check's bias_init
    for block in model.blocks:
        f = torch.sigmoid(block.attention.context.gate.bias.detach().double())
        tau = 1 / (1 - f)  # decay time: tokens for a key's weight to fall by e (for f near 1)
        assert tau[0].item() == pytest.approx(2.0, rel=1e-5) and tau[-1].item() == pytest.approx(64.0, rel=1e-5)
        ratios = tau[1:] / tau[:-1]
        assert torch.allclose(ratios, ratios[0].expand_as(ratios), rtol=1e-5)  # geometric


@pytest.mark.parametrize("options", [{"decay_time_max": 2.0, "bias_init": 0.0}, {"decay_time_max": float("nan")},
                                     {"decay_time_max": float("inf")}])
def test_a_decay_time_max_that_cannot_start_the_heads_is_refused_in_one_line(options):
    from pe_bench.errors import InputError
    with pytest.raises(InputError, match="decay_time_max"):
        tiny_model("fox", encoding_options=options)


def test_one_head_starts_at_the_longest_decay_time():
    from pe_bench.encodings.fox import decay_time_biases
    f = torch.sigmoid(decay_time_biases(1, 64.0).double())
    assert (1 / (1 - f)).item() == pytest.approx(64.0, rel=1e-5)
