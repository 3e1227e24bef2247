"""Layer schedules: the layers a schedule names, cycled; the syntax; windows and their caches; bad input."""

import pytest
import torch

from pe_bench.encodings import ENCODINGS, parse_encodings, resolve
from pe_bench.errors import InputError, Unsupported
from pe_bench.model import build_model

from conftest import tiny_model


def layer_names(model):
    return [model.encoding.for_layer(i).name for i in range(model.config.n_layers)]


def test_irope_builds_three_rope_layers_then_one_nope_cycled_over_the_depth():
    model = tiny_model("irope", n_layers=8)
    assert layer_names(model) == ["rope", "rope", "rope", "nope"] * 2
    assert [model.encoding.layer_window(i) for i in range(8)] == [None] * 8


def test_swa_rope_nope_windows_the_rope_layers_only():
    model = tiny_model("swa-rope-nope", encoding_options={"window": 5})
    assert [model.encoding.layer_window(i) for i in range(4)] == [5, 5, 5, None]


def test_a_list_of_encodings_keeps_commas_inside_brackets_and_parentheses_together(plugin_registry):
    names = parse_encodings("rope,[rope,rope,rope,nope],p-rope(p=0.5)")
    assert names == ("rope", "[rope,rope,rope,nope]", "p-rope(p=0.5)")
    model = tiny_model("[rope,rope,rope,nope]")
    assert layer_names(model) == ["rope", "rope", "rope", "nope"]
    assert model.encoding.parts[0].name == "rope" and len(model.encoding.parts) == 2  # layers share their entry


def test_a_configured_entry_gets_its_options(plugin_registry):
    name = resolve("[p-rope(p=0.5),alibi(window=3)]")
    model = tiny_model(name)
    assert model.encoding.for_layer(0).p == 0.5 and model.encoding.layer_window(1) == 3


def test_a_model_shallower_than_its_schedule_is_refused():
    with pytest.raises(Unsupported, match="names 4 layers"):
        build_model("irope", "tiny", n_layers=2)


@pytest.mark.parametrize("text, says", [
    ("[rope,unknown]", "unknown"), ("[rope,nope", "unbalanced"), ("[]", "at least one"),
    ("[sinusoidal,rope]", "input embedding"), ("[rope(window=0)]", "window"), ("p-rope(p=2)", "p"),
    ("rope(colour=3)", "no option 'colour'"), ("[irope,rope]", "is a schedule"),
])
def test_bad_schedules_and_options_are_one_input_error(text, says, plugin_registry):
    with pytest.raises(InputError, match=says):
        parse_encodings(text)


def test_a_window_at_least_the_models_length_is_refused():
    with pytest.raises(InputError, match="window"):
        tiny_model("swa-rope-nope", encoding_options={"window": 256})  # the tiny preset's max_len


def test_a_windowed_layer_sees_only_its_latest_keys(plugin_registry):
    model = tiny_model(resolve("[rope(window=4)]"), n_layers=1, backend="eager").eval()
    tokens = torch.randint(0, 256, (1, 12))
    with torch.no_grad():
        base = model(tokens)[0, -1]
        changed = tokens.clone()
        changed[0, :8] = (changed[0, :8] + 1) % 256  # outside the last query's window of 4
        assert torch.allclose(model(changed)[0, -1], base, atol=1e-6)
        changed[0, 8] = (changed[0, 8] + 1) % 256  # inside it
        assert not torch.allclose(model(changed)[0, -1], base, atol=1e-4)


def test_a_windowed_layers_cache_keeps_only_its_window(plugin_registry):
    model = tiny_model("swa-rope-nope", encoding_options={"window": 4})
    cache = model.new_cache(1, 16)
    assert {span: c.capacity for span, c in cache.caches.items()} == {None: 16, 4: 4}
    plain = tiny_model(resolve("[rope,rope,rope,nope]")).new_cache(1, 16)
    assert cache.bytes_per_token() == plain.bytes_per_token() / 4  # one layer of four keeps every token


def test_a_composed_name_is_registered_under_its_text_and_not_a_built_in(plugin_registry):
    name = resolve("[rope, nope]")
    assert name == "[rope,nope]" and name in ENCODINGS
    from pe_bench.encodings import base_encodings
    assert name not in base_encodings()


@pytest.mark.parametrize("policy, sinks, window", [("window", 0, 5), ("sinks", 2, 5), ("sinks", 2, 7), ("full", 0, 5)])
def test_decoding_a_stream_through_bounded_caches_equals_the_masked_full_forward(policy, sinks, window):
    """A window that fits beside the sinks gets a ring of its own; a larger one shares the global layers'
    cache shape and is masked by position (the sinks leave it once the stream is past them)."""
    from pe_bench.cache import policy_mask

    model = tiny_model("swa-rope-nope", encoding_options={"window": window}, backend="eager").eval()
    n, capacity = 20, 8 if policy != "full" else 20
    tokens = torch.randint(0, 256, (1, n))
    with torch.no_grad():
        mask = policy_mask(n, capacity, sinks) if policy != "full" else None
        reference = model(tokens, attn_mask=mask)
        cache = model.new_cache(1, capacity, policy=policy, sinks=sinks)
        assert cache.caches[window].capacity == (window if window <= capacity - sinks else capacity)
        steps = torch.cat([model(tokens[:, t: t + 1], cache=cache) for t in range(n)], dim=1)
    assert (steps - reference).abs().max() < 1e-4


def test_a_window_longer_than_a_suites_model_is_refused_before_any_work(tmp_path, plugin_registry):
    from typer.testing import CliRunner

    from pe_bench.cli import app

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["compare", "--suite", "speed,extrapolation", "--preset", "tiny",
                                      "--encodings", "swa-rope-nope(window=100)", "--out", str(out)])
    assert result.exit_code == 2 and not out.exists()  # the speed suite would have run first
    assert "extrapolation suite's model (length 16)" in result.output and "Traceback" not in result.output


def test_a_prefill_into_a_shared_sinks_cache_never_sees_later_tokens(plugin_registry):
    """A window wider than the sinks cache's ring shares that cache and is masked by position: the mask
    must stay causal (a prefill of several tokens that fit, not the spill path)."""
    model = tiny_model(resolve("[rope(window=5),nope]"), backend="eager").eval()
    a = torch.randint(0, 256, (1, 4))
    b = a.clone()
    b[0, 3] = (a[0, 3] + 1) % 256  # only the last token differs
    with torch.no_grad():
        la = model(a, cache=model.new_cache(1, 6, policy="sinks", sinks=2))
        lb = model(b, cache=model.new_cache(1, 6, policy="sinks", sinks=2))
        assert torch.allclose(la, model(a), atol=1e-5)
    assert torch.allclose(la[0, :3], lb[0, :3], atol=1e-6)
