"""The KV-cache suite on tiny shapes: exactness, memory, policies, shifts, precision. No timings asserted."""

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pe_bench.cli import app
from pe_bench.encodings import ENCODINGS
from pe_bench.errors import InputError
from pe_bench.runtime import make_runtime
from pe_bench.suite import RunContext
from pe_bench.suites.kvcache import SUITE

from conftest import BASE_ENCODINGS

RELATIVE = [n for n in BASE_ENCODINGS if ENCODINGS[n].shift_invariant]
ABSOLUTE = [n for n in BASE_ENCODINGS if not ENCODINGS[n].shift_invariant]


def settings_for(preset: str, **overrides):
    return SUITE.settings(preset, **overrides)


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    # flex's decoding is covered by tests/test_cache.py and pe-bench check; uncompiled it is slow here
    settings = settings_for("tiny", contexts=(24, 300), repeats=1, backends=("eager", "sdpa"))
    out: dict[str, list] = {}
    for schema, rows in SUITE.run(tuple(BASE_ENCODINGS), settings, RunContext(make_runtime("cpu"))):
        out.setdefault(schema.name, []).extend(rows)
    return {name: pd.DataFrame(rows) for name, rows in out.items()}


def test_cached_decoding_equals_full_forward_for_every_encoding_and_backend(tables):
    full = tables["kvcache"]
    full = full[(full["policy"] == "full") & full["supported"]]
    assert len(full.groupby(["encoding", "backend"])) == len(BASE_ENCODINGS) * 2
    assert (full["max_abs_logit_diff"] <= 1e-4).all()
    assert (full["cached_ms_per_token"] > 0).all() and (full["uncached_ms_per_token"] > 0).all()
    kv = tables["kvcache"]
    assert (full["repeats"] > 0).all() and (kv[kv["supported"]]["repeats"] > 0).all()
    assert (full["ratio_ci_low"] <= full["decode_x_nope"]).all()
    assert (full["decode_x_nope"] <= full["ratio_ci_high"]).all()
    assert (full[full["encoding"] == "nope"]["decode_x_nope"] == 1.0).all()


def test_policy_rows_compare_every_decoded_token_not_only_the_prefill(tables):
    """Slot positions renumber the cache once it evicts, which moves an encoding whose logits
    change when every position moves by one (the shift table of the same run says which) away
    from the original-position reference: visible only in the tokens decoded after the window
    filled, never in the prefill."""
    shift = tables["shift"]
    moved = shift[(shift["offset"] == shift["offset"].min()) & (shift["max_abs_logit_diff"] > 1e-3)]
    rows = tables["kvcache"]
    slot = rows[rows["policy"].isin(["window", "sinks"]) & (rows["positions"] == "slot") & rows["supported"]]
    sensitive = slot[slot["encoding"].isin(set(moved["encoding"]))]
    assert len(sensitive) and (sensitive["max_abs_logit_diff"] > 1e-3).all()


def test_learned_past_its_table_is_unsupported_not_a_crash(tables):
    rows = tables["kvcache"]
    learned = rows[(rows["encoding"] == "learned") & (rows["context_len"] == 300)]
    assert len(learned) == 2 and not learned["supported"].any()
    assert learned["note"].str.contains("256 positions").all()


def test_bytes_per_token_equal_the_formula(tables):
    ok = tables["kvcache"][tables["kvcache"]["supported"]]
    windowed = ok["encoding"] == "swa-rope-nope"  # three of four layers keep only their window, not per token
    state = ok["encoding"] == "fox"  # and one running sum per layer and head beside each key
    plain = ok[~windowed & ~state]
    assert (plain["cache_bytes_per_token"] == plain["cache_bytes_formula"]).all()
    assert (ok[state]["cache_bytes_per_token"] == ok[state]["cache_bytes_formula"] + 4 * 4 * 4).all()
    assert (ok[windowed]["cache_bytes_per_token"] == ok[windowed]["cache_bytes_formula"] / 4).all()
    assert (ok["cache_bytes_formula"] == 2 * 4 * 4 * 8 * 4).all()  # k and v, layers, heads, head_dim, fp32 bytes
    full = ok[ok["policy"] == "full"].set_index(["encoding", "backend", "context_len"])["extra_state_bytes"]
    for backend in ("eager", "sdpa"):
        # T5 keeps its bucket index (2 x 128 + 1 int64) on top of the cache's slot positions
        assert full[("t5", backend, 24)] - full[("nope", backend, 24)] == 257 * 8


def test_window_and_sink_policies_under_original_positions_are_exact(tables):
    rows = tables["kvcache"]
    bounded = rows[rows["policy"].isin(["window", "sinks"]) & rows["supported"]]
    assert set(bounded["positions"]) == {"original", "slot"}
    original = bounded[bounded["positions"] == "original"]
    assert (original["max_abs_logit_diff"] <= 1e-4).all()
    assert set(original["context_len"]) >= {24}


def test_rope_per_step_positional_work_is_measured_under_both_rules(tables):
    rows = tables["kvcache"]
    rope = rows[(rows["encoding"] == "rope") & (rows["policy"] == "window")]
    assert (rope["pe_ms_per_step"] > 0).all()


def test_shift_invariance_holds_for_relative_encodings_and_breaks_for_absolute_ones(tables):
    shift = tables["shift"]
    relative = shift[shift["encoding"].isin(RELATIVE)]
    assert (relative["max_abs_logit_diff"] <= 1e-4).all()
    absolute = shift[shift["encoding"].isin(ABSOLUTE) & shift["supported"]]
    largest = absolute.groupby("encoding")["max_abs_logit_diff"].max()
    # every absolute encoding moves more, at some offset, than any relative one does at all
    # (an untrained model's FIRE moves little: its bias is small until trained)
    assert set(largest.index) == set(ABSOLUTE) and (largest > relative["max_abs_logit_diff"].max()).all()
    learned = shift[(shift["encoding"] == "learned") & (shift["offset"] == 1000)]
    assert not learned["supported"].any()


def test_precision_rows_show_float64_angles_beat_working_precision_angles(tables):
    p = tables["precision"]
    assert set(p["dtype"]) == {"float32", "bfloat16", "float16"}
    far = p[(p["position"] == p["position"].max()) & (p["dtype"] == "float32")].set_index(["encoding", "quantity"])
    assert far.loc[("rope", "qk"), "abs_error"] < 1e-5
    assert far.loc[("rope", "qk_angles_in_dtype"), "abs_error"] > 10 * far.loc[("rope", "qk"), "abs_error"]
    assert far.loc[("sinusoidal", "table"), "abs_error"] < 1e-6


@pytest.mark.parametrize("overrides,message", [
    (dict(window=0), "--window must be between 2"),
    (dict(window=100), "smallest context"),
    (dict(sinks=16), "--sinks must be between 1"),
    (dict(sinks=0), "--sinks must be between 1"),
    (dict(contexts=(0,)), "--contexts must be >= 2"),
    (dict(policies=("lru",)), "unknown policy"),
])
def test_settings_are_validated(overrides, message):
    with pytest.raises(InputError, match=message):
        settings_for("tiny", **overrides)


@pytest.mark.parametrize("args,message", [
    (["--window", "0"], "--window must be between 2"),
    (["--window", "100"], "smallest context"),
    (["--sinks", "16"], "--sinks must be between 1"),
    (["--contexts", "0"], "--contexts must be integers >= 2"),
    (["--contexts", "-4"], "--contexts must be integers >= 2"),
    (["--contexts", "x"], "--contexts must be integers"),
    (["--policies", "lru"], "unknown policy 'lru'"),
    (["--suite", "speed", "--window", "8"], "--window applies to the kvcache suite"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, args, message):
    out = tmp_path / "out"
    base = ["compare", "--preset", "tiny", "--out", str(out)]
    if "--suite" not in args:
        base += ["--suite", "kvcache"]
    result = CliRunner().invoke(app, base + args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not out.exists()


def test_the_table_renders_when_only_the_shift_rows_are_there():
    """A run's selection once held shift rows and no kvcache rows; the render raised KeyError."""
    shift = pd.DataFrame([{"encoding": "rope", "backend": "sdpa", "offset": 8, "seq_len": 16,
                           "max_abs_logit_diff": 1e-6, "supported": True}])
    table = SUITE.render({"shift": shift})
    assert table.row_count == 0 and "T = 0" in str(table.title)
