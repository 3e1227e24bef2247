"""The evaluation protocols, checked against each other on a tiny model."""

import math

import torch
import torch.nn.functional as F

from pe_bench.evaluate import cached_decode_divergence, full_nll, nonoverlap_nll, perplexity, sliding_nll, stream_nll
from pe_bench.model import build_model
from pe_bench.runtime import make_runtime

TOKENS = torch.randint(0, 256, (129,), generator=torch.Generator().manual_seed(0), dtype=torch.long).to(torch.uint8)


def model():
    return build_model("alibi", "tiny").eval()


def test_nonoverlap_scores_every_token_of_every_window_once():
    m = model()
    x, y = TOKENS[:128].long().view(4, 32), TOKENS[1:129].long().view(4, 32)
    with torch.no_grad():
        expected = F.cross_entropy(m(x).transpose(1, 2), y).item()
    assert math.isclose(nonoverlap_nll(m, TOKENS, 32), expected, rel_tol=1e-6)


def test_sliding_with_stride_equal_to_the_window_is_nonoverlapping():
    m = model()
    assert math.isclose(sliding_nll(m, TOKENS, 32, 32), nonoverlap_nll(m, TOKENS, 32), rel_tol=1e-6)


def test_sliding_scores_each_token_once_with_at_least_window_minus_stride_context():
    """Windows of 32 every 8: token t >= 32 is scored in the window ending at it, with 24+ tokens before."""
    m = model()
    got = sliding_nll(m, TOKENS, 32, 8)
    # reference: for each scored token, the logits of the window that scores it
    x = TOKENS[:-1].long()
    total, count = 0.0, 0
    for start in range(0, x.numel() - 32 + 1, 8):
        with torch.no_grad():
            window_logits = m(x[start:start + 32][None])[0]
        first = 0 if start == 0 else 32 - 8
        targets = TOKENS[1:].long()[start + first: start + 32]
        total += F.cross_entropy(window_logits[first:], targets, reduction="sum").item()
        count += targets.numel()
    assert count == 128 and math.isclose(got, total / count, rel_tol=1e-6)


def test_a_model_that_predicts_uniformly_has_perplexity_256_in_every_protocol():
    """Zero output weights give zero logits: every byte has probability 1/256, whatever the
    context, so each protocol must report exactly ln 256 nats (perplexity 256)."""
    m = model()
    with torch.no_grad():
        m.head.weight.zero_()  # tied to the token embedding: the inputs are all zero too, which is fine
    expected = math.log(256)
    assert math.isclose(nonoverlap_nll(m, TOKENS, 32), expected, rel_tol=1e-6)
    assert math.isclose(sliding_nll(m, TOKENS, 32, 8), expected, rel_tol=1e-6)
    assert math.isclose(stream_nll(m, TOKENS[:65], make_runtime("cpu"), window=16, policy="sinks", sinks=2)[0],
                        expected, rel_tol=1e-6)
    assert math.isclose(perplexity(full_nll(m, TOKENS)), 256, rel_tol=1e-5)


def test_streaming_through_a_cache_that_never_evicts_equals_the_full_forward():
    m = model()
    nll, ms = stream_nll(m, TOKENS[:65], make_runtime("cpu"), window=64, policy="window")
    assert math.isclose(nll, full_nll(m, TOKENS[:65]), rel_tol=1e-5) and ms > 0


def test_dynamic_rope_with_a_cache_diverges_and_plain_rope_does_not():
    from pe_bench.encodings.rope_scaling import scaled_rope

    m = build_model("rope", "tiny", max_len=16).eval()
    plain = cached_decode_divergence(m, TOKENS[:65], prefill=16)
    m.encoding = scaled_rope("rope-dynamic", m.encoding, train_len=16, scale=1.0)
    dynamic = cached_decode_divergence(m, TOKENS[:65], prefill=16)
    # keys cached under older scales disagree with a full forward; plain RoPE only rounds
    assert plain["max_abs_logit_diff"] < 1e-6
    assert dynamic["max_abs_logit_diff"] > 20 * max(plain["max_abs_logit_diff"], 1e-7)
