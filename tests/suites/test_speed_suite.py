"""The speed suite on tiny shapes: columns, sane values, unsupported rows. No timing is asserted."""

import math

import pandas as pd
import pytest

from pe_bench.backends import BACKENDS
from pe_bench.encodings import ENCODINGS
from pe_bench.errors import InputError
from pe_bench.runtime import make_runtime
from pe_bench.suite import RunContext
from pe_bench.suites.speed import MODES, SPEED, SUITE

from conftest import BASE_ENCODINGS

RUNTIME = make_runtime("cpu", "float32")
# One encoding of each family, and the learned table (rows past its end): the columns, ratios and
# unsupported rows are the suite's, not an encoding's, and test_suite_contract.py runs the speed suite
# on every registered encoding. All fifteen cost this fixture about 75 s, flex uncompiled the most.
_FIRST_OF_EACH_FAMILY = {ENCODINGS[n].family: n for n in reversed(BASE_ENCODINGS)}.values()
MEASURED = tuple(n for n in BASE_ENCODINGS if n != "nope" and (n in _FIRST_OF_EACH_FAMILY or n == "learned"))
BACKENDS_MEASURED = tuple(b for b in BACKENDS if b != "eager")


def settings_for(preset: str, **overrides):
    return SUITE.settings(preset, **overrides)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    # eager is left out to keep this test's time where it was before sdpa-dense joined (same three-backend count)
    settings = settings_for("tiny", seq_lens=(16, 300), repeats=2, warmup=1, backends=BACKENDS_MEASURED)
    batches = [rows for _, rows in SUITE.run(MEASURED, settings, RunContext(RUNTIME))]
    return pd.DataFrame([r for batch in batches for r in batch])


def test_every_combination_has_a_row_with_the_schema_columns(rows):
    assert list(rows.columns) == list(SPEED.column_names)
    assert len(rows) == (len(MEASURED) + 1) * len(BACKENDS_MEASURED) * len(MODES) * 2  # (+ NoPE) x backends x modes x T
    assert set(rows["encoding"]) == {"nope", *MEASURED}


def test_supported_rows_have_positive_times_and_honest_ratios(rows):
    ok = rows[rows["supported"]]
    assert (ok["ms_median"] > 0).all() and (ok["tokens_per_s"] > 0).all()
    assert (ok["pe_ms_median"] >= 0).all() and (ok["peak_mem_mb"] > 0).all()
    assert (ok["pe_share"] >= 0).all() and (ok["repeats"] == 2).all()
    nope = ok[ok["encoding"] == "nope"]
    assert (nope["ratio_vs_nope_same_backend"] == 1.0).all() and (nope["pe_ms_median"] == 0).all()
    for (mode, seq_len), group in ok.groupby(["mode", "seq_len"]):
        nopes = group[group["encoding"] == "nope"]
        fastest = nopes.loc[nopes["ms_median"].idxmin()]
        assert (group["nope_backend"] == fastest["backend"]).all()
        assert (group["ratio_vs_nope"] - group["ms_median"] / fastest["ms_median"]).abs().max() < 1e-12
        assert (group["ratio_ci_low"] <= group["ratio_vs_nope"]).all()
        assert (group["ratio_vs_nope"] <= group["ratio_ci_high"]).all()
        assert (nopes["ratio_vs_nope"] >= 1.0).all() and fastest["ratio_vs_nope"] == 1.0
        for _, row in group.iterrows():
            same = nopes[nopes["backend"] == row["backend"]]["ms_median"].iloc[0]
            assert math.isclose(row["ratio_vs_nope_same_backend"], row["ms_median"] / same)


def test_flex_training_on_cpu_is_an_unsupported_row_with_a_reason(rows):
    flex_train = rows[(rows["backend"] == "flex") & (rows["mode"] == "train")]
    assert not flex_train["supported"].any()
    in_table = flex_train[~((flex_train["encoding"] == "learned") & (flex_train["seq_len"] == 300))]
    assert in_table["note"].str.contains("forward only").all()


def test_learned_past_its_table_is_an_unsupported_row(rows):
    learned = rows[(rows["encoding"] == "learned") & (rows["seq_len"] == 300)]
    assert not learned["supported"].any()
    assert learned["note"].str.contains("table of 256 positions").all()
    assert rows[(rows["encoding"] == "rope") & (rows["seq_len"] == 300) & (rows["backend"] == "sdpa")]["supported"].all()


def test_compile_time_only_for_compiled_flex(rows):
    assert rows["compile_s"].isna().all()  # tiny runs flex uncompiled


def test_run_records_the_environment(rows):
    assert (rows["device"].str.startswith("cpu")).all()
    assert (rows["dtype"] == "float32").all() and (rows["threads"] >= 1).all()


@pytest.mark.parametrize("overrides,message", [
    (dict(seq_lens=(0,)), "--seq-lens must be >= 1"),
    (dict(batch_size=-1), "--batch-size must be >= 1"),
    (dict(backends=("triton",)), "unknown backend"),
    (dict(modes=("serve",)), "unknown mode"),
])
def test_settings_are_validated(overrides, message):
    with pytest.raises(InputError, match=message):
        settings_for("tiny", **overrides)


def test_unknown_preset():
    with pytest.raises(InputError, match="valid: tiny, quick, standard"):
        settings_for("huge")


def test_every_timed_row_says_whether_it_is_noisy(rows):
    ok = rows[rows["supported"]]
    assert ok["noisy"].map(type).eq(bool).all()
    assert rows[~rows["supported"]]["noisy"].isna().all()
