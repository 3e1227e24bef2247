"""Which differences are real (results/claims.py): claims tested across seeds on small fixtures."""

from __future__ import annotations

import math

import pandas as pd

from pe_bench.results.claims import REAL, WITHIN_NOISE, Claim, compare_claims
from pe_bench.stats import ONE_SEED


def _tables(values: dict[str, list[float]]) -> dict[str, pd.DataFrame]:
    rows = [{"encoding": name, "seed": seed, "value": v} for name, vs in values.items() for seed, v in enumerate(vs)]
    return {"scores": pd.DataFrame(rows)}


def _measure(tables, name):  # noqa: ANN001, ANN202
    df = tables["scores"]
    return df[df["encoding"] == name].set_index("seed")["value"]


RANKING = Claim("score", _measure)


def test_far_apart_is_real_and_overlapping_is_within_noise():
    tables = _tables({"a": [5.0, 5.1, 4.9], "b": [8.0, 8.2, 7.9], "c": [8.1, 7.9, 8.3]})
    result = compare_claims([RANKING], tables, ["c", "b", "a"])
    assert list(zip(result["better"], result["worse"])) == [("a", "b"), ("b", "c")]  # ranked by mean, lower first
    first, second = result.iloc[0], result.iloc[1]
    assert first["verdict"] == REAL and first["p_value"] < 0.01
    assert math.isclose(first["margin"], 3.0333333, rel_tol=1e-6) and first["seeds"] == 3
    assert second["verdict"] == f"{WITHIN_NOISE} at 3 seeds" and second["p_value"] > 0.05


def test_one_seed_gives_no_test_and_says_so():
    result = compare_claims([RANKING], _tables({"a": [5.0], "b": [9.0]}), ["a", "b"])
    assert result.iloc[0]["verdict"] == ONE_SEED and math.isnan(result.iloc[0]["p_value"])
    assert math.isnan(result.iloc[0]["margin_ci95"])


def test_higher_is_better_and_named_pairs_are_reported_best_first():
    claim = Claim("accuracy at 4L", _measure, lower_is_better=False, pairs=(("a", "b"), ("a", "missing")))
    result = compare_claims([claim], _tables({"a": [0.5, 0.52, 0.49], "b": [0.9, 0.93, 0.91], "c": [1, 1, 1]}),
                            ["a", "b", "c"])
    assert len(result) == 1  # only the named pair the tables hold; c is not compared
    assert (result.iloc[0]["better"], result.iloc[0]["worse"]) == ("b", "a")
    assert result.iloc[0]["margin"] > 0 and result.iloc[0]["verdict"] == REAL


def test_only_the_seeds_both_ran_are_paired():
    tables = {"scores": pd.DataFrame({"encoding": ["a", "a", "a", "b", "b"], "seed": [0, 1, 2, 0, 2],
                                      "value": [1.0, 1.2, 1.1, 2.0, 2.1]})}
    assert compare_claims([RANKING], tables, ["a", "b"]).iloc[0]["seeds"] == 2
