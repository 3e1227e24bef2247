"""A KV cache must never change the output: prefill + token-by-token decoding = one full forward."""

import pytest
import torch

from pe_bench.cache import KVCache, policy_mask
from pe_bench.errors import InputError
from pe_bench.encodings import ENCODINGS
from pe_bench.model import build_model

from conftest import ALL_BACKENDS, ALL_ENCODINGS, sharpened, tiny_model

FLEX_PREFILL = 18  # uncompiled flex is slow per decoding step: it decodes the last 6 tokens
EXACT = [n for n in ALL_ENCODINGS if ENCODINGS[n].exact_cache]
RELATIVE_EXACT = [n for n in EXACT if ENCODINGS[n].shift_invariant]
ABSOLUTE = [n for n in ALL_ENCODINGS if not ENCODINGS[n].shift_invariant]


def decode(model, tokens, cache, prefill, positions=None):
    """Logits for every position: prefill ``prefill`` tokens, then one token per step."""
    T = tokens.shape[1]
    first = None if positions is None else positions[:prefill]
    parts = [model(tokens[:, :prefill], positions=first, cache=cache)]
    for t in range(prefill, T):
        parts.append(model(tokens[:, t:t + 1], cache=cache))  # positions continue where the cache left off
    return torch.cat(parts, dim=1)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_cached_decoding_equals_full_forward_where_the_encoding_claims_it(name, backend, tokens):
    """Exact where ``exact_cache`` is claimed; measurably not where the design says otherwise
    (dynamic RoPE scaling: keys cached under an older scale)."""
    model = sharpened(tiny_model(name, backend=backend)).eval()
    prefill = FLEX_PREFILL if backend == "flex" else 7
    with torch.no_grad():
        full = model(tokens)
        cached = decode(model, tokens, model.new_cache(2, tokens.shape[1]), prefill=prefill)
    if ENCODINGS[name].exact_cache:
        assert (cached - full).abs().max() <= 1e-4
    else:
        assert (cached - full).abs().max() > 1e-3


@pytest.mark.parametrize("name", EXACT)
def test_cached_decoding_at_an_offset(name, tokens):
    """A stream that starts at position 100: the cache continues from the positions it was given."""
    model = tiny_model(name).eval()
    positions = torch.arange(tokens.shape[1]) + 100
    with torch.no_grad():
        full = model(tokens, positions=positions)
        cached = decode(model, tokens, model.new_cache(2, tokens.shape[1]), prefill=5, positions=positions)
    assert (cached - full).abs().max() <= 1e-4


@pytest.mark.parametrize("name", EXACT)
def test_chunked_prefill_equals_full_forward(name, tokens):
    model = tiny_model(name).eval()
    cache = model.new_cache(2, tokens.shape[1])
    with torch.no_grad():
        full = model(tokens)
        parts = [model(tokens[:, a:b], cache=cache) for a, b in ((0, 10), (10, 17), (17, 24))]
    assert (torch.cat(parts, 1) - full).abs().max() <= 1e-4


def test_rope_cache_stores_transformed_keys_unless_positions_are_slots(tokens):
    model = build_model("rope", "tiny").eval()
    with torch.no_grad():
        original = model.new_cache(2, 24)
        model(tokens, cache=original)
        slot = model.new_cache(2, 24, position_rule="slot")
        model(tokens, cache=slot)
    assert original.stores_transformed_keys and not slot.stores_transformed_keys
    assert not torch.allclose(original.k, slot.k)  # raw vs rotated keys
    assert torch.equal(original.v, slot.v)


def test_full_cache_overflow_is_a_clear_error(tokens):
    model = build_model("nope", "tiny").eval()
    cache = model.new_cache(2, 10)
    with pytest.raises(InputError, match="capacity 10"):
        model(tokens[:, :11], cache=cache)


def test_bytes_per_token_matches_formula():
    """The tiny preset: 4 layers, width 32 (4 heads of 8), float32: keys and values cost
    2 x 4 x 32 x 4 = 1024 bytes per token, whatever the batch and capacity."""
    cache = build_model("rope", "tiny").new_cache(3, 16)
    assert cache.bytes_per_token() == 1024


@pytest.mark.parametrize("kwargs,message", [
    (dict(policy="lru"), "unknown cache policy"),
    (dict(position_rule="absolute"), "unknown position rule"),
    (dict(policy="sinks", sinks=8), "sinks must be between"),
    (dict(policy="window", sinks=2), "needs policy 'sinks'"),
    (dict(capacity=0), "capacity must be >= 1"),
])
def test_bad_cache_arguments(kwargs, message):
    args = dict(n_layers=1, batch_size=1, n_heads=1, head_dim=2, capacity=8) | kwargs
    with pytest.raises(InputError, match=message):
        KVCache(**args)


def stream(model, tokens, cache, prefill):
    """Prefill, then one token at a time: the only way a window cache may be fed once full."""
    parts = [model(tokens[:, :prefill], cache=cache)]
    parts += [model(tokens[:, t:t + 1], cache=cache) for t in range(prefill, tokens.shape[1])]
    return torch.cat(parts, dim=1)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("name", EXACT)
@pytest.mark.parametrize("policy,sinks", [("window", 0), ("sinks", 2)])
def test_window_and_sink_caches_equal_the_masked_full_forward(name, backend, policy, sinks, tokens):
    """Under original positions, a bounded cache = a full forward that masks what the cache evicted."""
    model = tiny_model(name, backend=backend).eval()
    if backend == "flex":  # uncompiled flex is slow per step: a shorter stream still evicts (window 8)
        tokens = tokens[:, :14]
    window, T = 8, tokens.shape[1]
    with torch.no_grad():
        reference = model(tokens, attn_mask=policy_mask(T, window, sinks))
        cache = model.new_cache(2, window, policy=policy, sinks=sinks)
        streamed = stream(model, tokens, cache, prefill=5)
        unmasked = model(tokens)
    assert (streamed - reference).abs().max() <= 1e-4
    assert (streamed - unmasked).abs().max() > 1e-3  # eviction really happened


def test_policy_mask_holds_sinks_and_recent_keys():
    mask = policy_mask(10, window=4, sinks=1)
    assert mask[9].nonzero().flatten().tolist() == [0, 7, 8, 9]
    assert mask[2].nonzero().flatten().tolist() == [0, 1, 2]
    assert policy_mask(10, window=4, sinks=0)[9].nonzero().flatten().tolist() == [6, 7, 8, 9]


@pytest.mark.parametrize("name", RELATIVE_EXACT)
def test_slot_positions_equal_original_positions_for_relative_encodings_in_a_window(name, tokens):
    """A plain window keeps distances between the tokens it holds, so re-numbering changes nothing."""
    model = tiny_model(name).eval()
    with torch.no_grad():
        original = stream(model, tokens, model.new_cache(2, 8, policy="window"), prefill=4)
        slot = stream(model, tokens, model.new_cache(2, 8, policy="window", position_rule="slot"), prefill=4)
    assert (original - slot).abs().max() <= 1e-4


@pytest.mark.parametrize("name", ABSOLUTE)
def test_slot_positions_change_encodings_that_are_not_shift_invariant(name, tokens):
    model = sharpened(tiny_model(name)).eval()
    with torch.no_grad():
        original = stream(model, tokens, model.new_cache(2, 8, policy="window"), prefill=4)
        slot = stream(model, tokens, model.new_cache(2, 8, policy="window", position_rule="slot"), prefill=4)
    assert (original - slot).abs().max() > 1e-3


def test_ring_keeps_sinks_and_the_most_recent_tokens():
    model = build_model("nope", "tiny").eval()
    cache = model.new_cache(1, 6, policy="sinks", sinks=2)
    with torch.no_grad():
        model(torch.zeros(1, 3, dtype=torch.long), cache=cache)
        for _ in range(7):
            model(torch.zeros(1, 1, dtype=torch.long), cache=cache)
    assert cache.length == 6 and cache.tokens_seen == 10
    assert sorted(cache.slot_positions.tolist()) == [0, 1, 6, 7, 8, 9]
    ranks = cache.slot_ranks()
    order = [cache.slot_positions[ranks == r].item() for r in range(6)]
    assert order == [0, 1, 6, 7, 8, 9]


@pytest.mark.parametrize("name", EXACT)
@pytest.mark.parametrize("policy,sinks", [("window", 0), ("sinks", 2)])
def test_chunks_that_overflow_a_bounded_cache_equal_the_masked_full_forward(name, policy, sinks, tokens):
    """A prefill longer than a window or sinks cache, then chunks: attention over the kept tokens and the
    chunk's, and the cache keeps what the policy keeps, as if fed one at a time."""
    model = tiny_model(name).eval()
    T = tokens.shape[1]
    with torch.no_grad():
        reference = model(tokens, attn_mask=policy_mask(T, 8, sinks))
        cache = model.new_cache(2, 8, policy=policy, sinks=sinks)
        parts = [model(tokens[:, a:b], cache=cache) for a, b in ((0, 10), (10, 13), (13, 14), (14, 24))]
    assert (torch.cat(parts, 1) - reference).abs().max() <= 1e-4
    assert cache.tokens_seen == T and sorted(cache.slot_positions.tolist()) == [*range(sinks), *range(T - 8 + sinks, T)]


def test_bounded_cache_under_slot_positions_refuses_multi_token_eviction():
    model = build_model("nope", "tiny").eval()
    cache = model.new_cache(1, 4, policy="window", position_rule="slot")
    with torch.no_grad():
        model(torch.zeros(1, 3, dtype=torch.long), cache=cache)
        with pytest.raises(InputError, match="one at a time"):
            model(torch.zeros(1, 2, dtype=torch.long), cache=cache)


def test_a_failed_step_leaves_the_cache_as_it_was():
    from pe_bench.errors import PositionOutOfRange

    model = build_model("learned", "tiny", max_len=16).eval()
    tokens = torch.randint(0, 256, (1, 16))
    for policy, capacity in (("full", 20), ("window", 8)):
        cache = model.new_cache(1, capacity, policy=policy)
        with torch.no_grad():
            model(tokens[:, :4], cache=cache)
            for t in range(4, 15):
                model(tokens[:, t:t + 1], cache=cache)
            before = (cache.length, cache.next_position, cache._oldest, cache.slot_positions.clone(), cache.k.clone())
            with pytest.raises(PositionOutOfRange):
                model(tokens[:, :1], positions=torch.tensor([16]), cache=cache)
            after = (cache.length, cache.next_position, cache._oldest, cache.slot_positions, cache.k)
            assert before[:3] == after[:3] and torch.equal(before[3], after[3]) and torch.equal(before[4], after[4])
            model(tokens[:, 15:16], cache=cache)  # the stream goes on as if nothing happened


def test_slot_ranks_of_empty_slots_are_zero():
    model = build_model("rope", "tiny").eval()
    cache = model.new_cache(1, 8, policy="window", position_rule="slot")
    with torch.no_grad():
        model(torch.zeros(1, 3, dtype=torch.long), cache=cache)
    assert cache.slot_ranks().tolist() == [0, 1, 2, 0, 0, 0, 0, 0]
