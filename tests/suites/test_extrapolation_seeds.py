"""The extrapolation suite with several seeds: one model per seed, resume, the same seeds on resume.

Tiny preset, NoPE only, a few steps: the point is the bookkeeping, not the perplexities.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from pe_bench import training
from pe_bench.errors import InputError
from pe_bench.model import Transformer
from pe_bench.runner import execute, finish, plan
from pe_bench.runtime import make_runtime
from pe_bench.suites.extrapolation import PRESETS

from test_extrapolation_suite import write_corpus

RUNTIME = make_runtime("cpu")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"), n_files=3, lines=150)


@pytest.fixture(scope="module", autouse=True)
def _short_tiny():
    """The tiny preset with less to evaluate: streaming decodes token by token, the slowest part here."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(PRESETS, "tiny", replace(PRESETS["tiny"], eval_tokens=256, sliding_tokens=128))
        yield


@pytest.fixture(scope="module")
def _plan(corpus):  # noqa: ANN001, ANN202
    def make(out: Path, seeds: tuple[int, ...] | None = (0, 1), resume: bool = False, seed: int | None = None):
        settings = {"steps": 4, "eval_lens": (16, 128), "corpus": corpus, "seeds": seeds}
        return plan(("nope",), ("extrapolation",), "tiny", RUNTIME, out, seed=seed, overrides=settings, resume=resume)
    return make


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory, _plan) -> Path:
    out = tmp_path_factory.mktemp("seeds")
    execute(_plan(out))
    return out


def test_each_seed_is_trained_evaluated_and_checkpointed_separately(two_seeds):
    ext = pd.read_csv(two_seeds / "extrapolation.csv")
    assert sorted(ext["seed"].unique()) == [0, 1]
    lm = ext[(ext["task"] == "lm") & (ext["eval_mode"] == "nonoverlap")].set_index(["seed", "eval_len"])["value"]
    assert lm.loc[(0, 16)] != lm.loc[(1, 16)]  # different weights and batches
    assert sorted(pd.read_csv(two_seeds / "training.csv")["seed"].unique()) == [0, 1]
    assert len(list((two_seeds / "checkpoints").glob("nope-*.pt"))) == 2
    recorded = json.loads((two_seeds / "manifest.json").read_text())["runs"][-1]["suites"]["extrapolation"]
    assert recorded["seeds"] == [0, 1]


def test_the_report_gives_intervals_over_the_seeds(two_seeds, _plan):
    done = finish(_plan(two_seeds), draw_plots=False)
    nope = done.summary.set_index("encoding").loc["nope"]
    ext = pd.read_csv(two_seeds / "extrapolation.csv")
    at_l = ext[(ext["task"] == "lm") & (ext["eval_mode"] == "nonoverlap") & (ext["eval_len"] == 16)]["value"]
    assert nope["seeds"] == 2 and nope["ppl_L"] == pytest.approx(at_l.mean())
    assert nope["ppl_L_ci95"] > 0
    report = (two_seeds / "summary.md").read_text()
    assert " ± " in report and "mean ± 95 % interval over 2 seeds (0, 1)" in report


def test_resume_with_the_same_seeds_trains_and_runs_nothing(two_seeds, _plan, monkeypatch):
    before = {name: (two_seeds / name).read_text() for name in ("extrapolation.csv", "training.csv")}
    calls = []
    real_forward = Transformer.forward
    monkeypatch.setattr(Transformer, "forward", lambda self, *a, **k: calls.append(1) or real_forward(self, *a, **k))
    monkeypatch.setattr(training, "train", lambda *a, **k: calls.append("train"))
    execute(_plan(two_seeds, resume=True))
    assert not calls
    assert {name: (two_seeds / name).read_text() for name in before} == before


@pytest.mark.parametrize("seeds,seed", [((0, 1, 2), None), ((1,), None), (None, 0)])
def test_resume_with_other_seeds_is_refused_before_any_work(two_seeds, _plan, seeds, seed):
    files = {p: p.read_bytes() for p in two_seeds.rglob("*") if p.is_file()}
    with pytest.raises(InputError, match=r"continues a extrapolation run with seeds 0,1, not .*give --seeds 0,1"):
        _plan(two_seeds, seeds=seeds, seed=seed, resume=True)
    assert {p: p.read_bytes() for p in two_seeds.rglob("*") if p.is_file()} == files


def test_one_seed_says_it_has_no_interval(two_seeds, _plan):
    done = finish(_plan(two_seeds, seeds=(1,)), draw_plots=False)  # a report of seed 1 alone
    assert done.summary.set_index("encoding").loc["nope", "seeds"] == 1
    report = (two_seeds / "summary.md").read_text()
    summary_row = next(line for line in report.splitlines() if line.startswith("| nope"))
    assert "1 seed, no interval" in summary_row and " ± " not in summary_row
