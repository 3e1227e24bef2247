"""A new built-in encoding is one file plus one registry line: ``pe-bench check``, ``list``, ``show``,
every suite, the summary and the figures take it through the registry, with no other edit.

The encoding below is that one file (a fixed linear distance penalty, one slope for every
head); the fixture is the one registry line.
"""

import pandas as pd
import pytest
import torch
from torch import Tensor
from typer.testing import CliRunner

import pe_bench
from pe_bench.check import check_encodings
from pe_bench.cli import app
from pe_bench.encodings import BUILT_IN, ENCODINGS, ORIGINS, base_encodings
from pe_bench.encodings.base import AttentionBias, Family, PositionalEncoding, ScoreMod
from pe_bench.figures.common import colour
from pe_bench.suites import SUITES

SLOPE = 0.25


class FlatPenalty(AttentionBias):
    """bias[h, i, j] = -SLOPE * |i - j| for every head h."""

    def __init__(self, n_heads: int, dtype: torch.dtype) -> None:
        self.n_heads, self.dtype = n_heads, dtype

    def materialize(self, q_pos: Tensor, k_pos: Tensor) -> Tensor:
        distance = (q_pos[:, None] - k_pos[None, :]).abs().to(self.dtype)
        return (-SLOPE * distance).expand(self.n_heads, -1, -1)

    def score_mod(self, q_pos: Tensor, k_pos: Tensor) -> ScoreMod:
        def add_bias(score: Tensor, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            return score - SLOPE * (q_pos[q_idx] - k_pos[kv_idx]).abs().to(score.dtype)

        return add_bias


class Flat(PositionalEncoding):
    """A linear distance penalty with one fixed slope: ALiBi with every head alike."""

    name = "flat-test"
    family = Family.BIAS
    shift_invariant = True
    description = "-0.25 |i - j| in every head (written in a test)"

    def attention_bias(self, dtype: torch.dtype) -> FlatPenalty:
        return FlatPenalty(self.n_heads, dtype)


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(ENCODINGS, Flat.name, Flat)  # the one registry line
    monkeypatch.setitem(ORIGINS, Flat.name, BUILT_IN)


def test_it_passes_check_and_is_listed_and_shown(registered):
    from pe_bench.check import CHECKS

    results = check_encodings([Flat.name])
    assert len(results) == len(CHECKS) and all(r.passed for r in results), [r for r in results if not r.passed]
    assert Flat.name in base_encodings()  # what --encodings all means
    runner = CliRunner()
    assert Flat.name in runner.invoke(app, ["list"], env={"COLUMNS": "250"}).output
    shown = runner.invoke(app, ["show", Flat.name])
    assert shown.exit_code == 0 and Flat.description in shown.output
    assert colour(Flat.name) not in {colour(name) for name in ENCODINGS if name != Flat.name}  # a colour of its own


def test_every_suite_measures_it_end_to_end(registered, tmp_path):
    done = pe_bench.run((Flat.name,), "all", "tiny", device="cpu", out=tmp_path, plots=True)
    for suite in SUITES.values():
        for schema in suite.tables:
            rows = pd.read_csv(tmp_path / schema.filename)
            if "encoding" in rows.columns and schema.name != "precision":
                assert Flat.name in set(rows["encoding"]), f"{schema.name} has no row for the new encoding"
    assert Flat.name in set(done.summary["encoding"])
    assert done.figures
