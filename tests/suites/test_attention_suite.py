"""The attention suite: its measurements on hand-made attention matrices, the blocked weights against the
eager formula on tiny models, the suite end to end on the tiny preset, and its bad input. No timings asserted."""

import math
from dataclasses import replace

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from pe_bench.cli import app
from pe_bench.suites.attention import report
from pe_bench.suites.attention.measure import measure_length, probing
from pe_bench.suites.attention.sources import Batch, _predicting
from pe_bench.suites.attention.spec import PRESETS
from pe_bench.suites.attention.weights import (
    MapGrid, Totals, bin_start, block_logits, distance_bin, entropy, n_bins, softmax_weights,
)

from conftest import BASE_ENCODINGS, sharpened, tiny_model


def totals_of(weights: torch.Tensor, train_len: int = 4) -> dict[str, torch.Tensor]:
    """Totals.means of one block: ``weights`` (1, H, R, S) of the last R queries of an S-token causal window."""
    _, H, R, S = weights.shape
    q_pos, k_pos = torch.arange(S - R, S), torch.arange(S)
    allowed = k_pos[None, :] <= q_pos[:, None]
    totals = Totals(H, n_bins(S), train_len)
    totals.add(weights, torch.zeros_like(weights), allowed, q_pos, k_pos)
    return totals.means()


def test_uniform_weights_have_entropy_log_n_and_one_hot_weights_zero():
    assert entropy(torch.full((7,), 1 / 7)).item() == pytest.approx(math.log(7))
    assert entropy(torch.tensor([0.0, 1.0, 0.0])).item() == 0.0


def test_all_weight_on_token_0_is_sink_mass_1_and_uniform_weight_is_1_over_n():
    S = 8
    sink = torch.zeros(1, 2, 1, S)
    sink[..., 0] = 1
    means = totals_of(sink)
    assert means["sink_first"].tolist() == [1.0, 1.0] and means["sink_first4"].tolist() == [1.0, 1.0]
    assert means["entropy_mean"].tolist() == [0.0, 0.0] and means["max_weight"].tolist() == [1.0, 1.0]
    uniform = torch.full((1, 1, 1, S), 1 / S)
    means = totals_of(uniform)
    assert means["sink_first"].item() == pytest.approx(1 / S)
    assert means["sink_first4"].item() == pytest.approx(4 / S)
    assert means["entropy_mean"].item() == pytest.approx(math.log(S))
    assert means["log_keys"].item() == pytest.approx(math.log(S))  # the last query sees all S keys
    assert means["within_L"].item() == pytest.approx(4 / S)  # distances 0..3 of 0..7


def test_distances_are_binned_by_powers_of_two():
    d = torch.tensor([0, 1, 2, 3, 4, 7, 8, 15, 16])
    assert distance_bin(d).tolist() == [0, 1, 2, 2, 3, 3, 4, 4, 5]
    assert [bin_start(b) for b in range(6)] == [0, 1, 2, 4, 8, 16]
    assert n_bins(16) == 5 and n_bins(17) == 6 and n_bins(1) == 1  # distances 0..15 need bins 0..4


def test_the_weight_by_distance_sums_the_weights_in_each_bin():
    weights = torch.tensor([0.1, 0.2, 0.3, 0.4]).view(1, 1, 1, 4)  # the query at 3: distances 3, 2, 1, 0
    shares = totals_of(weights)["distance"][0].tolist()
    assert shares == pytest.approx([0.4, 0.3, 0.1 + 0.2])  # bin 0: d 0; bin 1: d 1; bin 2: d 2, 3


def test_logits_split_at_the_training_length():
    S = 6
    logits = torch.arange(S, dtype=torch.float32).view(1, 1, 1, S)  # key j scores j; the query at 5
    totals = Totals(1, n_bins(S), 2)
    q_pos, k_pos = torch.tensor([5]), torch.arange(S)
    totals.add(softmax_weights(logits, None), logits, None, q_pos, k_pos)
    means = totals.means()
    assert means["logit_mean_seen"].item() == pytest.approx(4.5)  # keys 4, 5: distances 1, 0 (< L = 2)
    assert means["logit_mean_unseen"].item() == pytest.approx(1.5)  # keys 0..3
    assert means["logit_std_unseen"].item() == pytest.approx(math.sqrt(1.25))


def test_a_map_is_pooled_into_cell_means():
    grid = MapGrid(4, 2)
    grid.add(torch.eye(4), torch.arange(4))  # all weight on the diagonal
    assert grid.grid().tolist() == [[0.5, 0.0], [0.0, 0.5]]


def captured(name: str, T: int = 12):
    """Every layer's (q, k, inputs) of a sharpened tiny model over T random tokens."""
    model = sharpened(tiny_model(name)).eval()
    seen = []
    with torch.no_grad(), probing(model, [lambda q, k, inputs: seen.append((q, k, inputs))] * len(model.blocks)):
        model(torch.randint(0, 256, (2, T)))
    return seen


@pytest.mark.parametrize("name", BASE_ENCODINGS)
def test_blocked_weights_equal_the_eager_formula(name):
    for q, k, inputs in captured(name):
        n = inputs.kv_len
        scores = q @ k[..., :n, :].transpose(-2, -1) / math.sqrt(q.shape[-1])
        mask = inputs.dense_mask(scores.dtype)
        if mask is not None and mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        elif mask is not None:
            scores = scores + mask
        eager = torch.softmax(scores, dim=-1)  # backends/eager.py's weights, dense mask and all
        rows = torch.arange(q.shape[2])
        blocked = torch.cat([softmax_weights(*block_logits(q, k, inputs, r)) for r in rows.split(5)], dim=2)
        torch.testing.assert_close(blocked, eager, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ["rope", "alibi", "cope"])
def test_the_measurement_in_small_blocks_equals_it_in_one(name):
    model = sharpened(tiny_model(name)).eval()
    windows = [Batch(torch.randint(0, 256, (2, 32)), torch.arange(24, 32))]  # the last L = 8 queries
    one, map_one = measure_length(model, windows, 8, n_bins(32), 1, 2, True)
    small, map_small = measure_length(model, windows, 8, n_bins(32), 1, 2, True, budget=40)  # one row a block
    for a, b in zip(one, small):
        for metric, value in a.means().items():
            torch.testing.assert_close(b.means()[metric], value, equal_nan=True)
    torch.testing.assert_close(map_small.grid(), map_one.grid())
    assert one[0].queries == 2 * 8  # the last L queries of each window


def test_the_summary_reads_entropy_growth_seed_by_seed():
    rows = [dict(encoding="rope", metric="entropy_mean", layer=layer, head=0, eval_len=n, train_len=16, seed=seed,
                 supported=True, value=value + seed + layer)
            for seed in (0, 1) for layer in (0, 1) for n, value in ((16, 1.0), (128, 3.0))]
    tables = {"attention": pd.DataFrame(rows)}
    assert report.entropy_growth(tables, "rope").tolist() == [2.0, 2.0]
    assert report.summarize(tables, "rope")["attn_entropy_growth"] == pytest.approx(2.0)


def test_the_suite_end_to_end_on_the_tiny_preset(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["compare", "--preset", "tiny", "--suite", "attention", "--encodings",
                                      "alibi,learned", "--out", str(out)])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out / "attention.csv")
    lengths = sorted(df["eval_len"].unique())
    assert lengths == [16, 32, 64, 128, 256]
    alibi = df[(df["encoding"] == "alibi") & (df["metric"] == "entropy_mean")]
    assert len(alibi) == 5 * 4 * 4  # lengths x layers x heads
    assert (alibi.groupby("eval_len")["value"].mean().diff().dropna() > 0).all()  # more keys, more entropy
    learned = df[(df["encoding"] == "learned") & (df["metric"] == "seconds")].set_index("eval_len")
    assert learned.loc[16, "supported"] and not learned.loc[32, "supported"]  # no table rows past L
    maps = pd.read_csv(out / "attention_maps.csv")
    assert set(maps["eval_len"]) == {16, 128} and set(maps["layer"]) == {3}
    for figure in ("attention_entropy_vs_length", "attention_sink_mass", "attention_by_distance",
                   "attention_max_weight", "attention_maps"):
        assert (out / "plots" / f"{figure}.png").stat().st_size > 0
    again = CliRunner().invoke(app, ["compare", "--preset", "tiny", "--suite", "attention", "--encodings",
                                     "alibi", "--out", str(out), "--no-train", "--map-layer", "0"])
    assert again.exit_code == 0, again.output  # the checkpoint is there now
    assert set(pd.read_csv(out / "attention_maps.csv")["layer"]) == {0, 3}


@pytest.mark.parametrize("args, message", [
    (["--no-train"], "has no checkpoint"),
    (["--map-layer", "9"], "--map-layer 9 does not exist"),
    (["--map-head", "4"], "--map-head 4 does not exist"),
    (["--eval-lens", "16,300000"], "cannot fill"),
    (["--windows", "0"], "--windows"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, args, message):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["compare", "--preset", "tiny", "--suite", "attention", "--encodings", "rope",
                                      "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_a_tasks_models_are_measured_at_the_queries_that_predict_the_answer(tmp_path):
    out = tmp_path / "out"
    trained = CliRunner().invoke(app, ["compare", "--preset", "tiny", "--suite", "tasks", "--tasks", "passkey",
                                       "--encodings", "alibi", "--out", str(out)])
    assert trained.exit_code == 0, trained.output
    result = CliRunner().invoke(app, ["compare", "--preset", "tiny", "--suite", "attention", "--models", "passkey",
                                      "--encodings", "alibi", "--no-train", "--out", str(out)])
    assert result.exit_code == 0, result.output  # the tasks suite's checkpoint is read, nothing trained
    df = pd.read_csv(out / "attention.csv")
    assert set(df["task"]) == {"passkey"} and set(df["train_len"]) == {104}
    assert sorted(df["eval_len"].unique()) == [104, 208, 416]  # the tasks suite's lengths, L .. 4L at tiny
    entropy = df[df["metric"] == "entropy_mean"]
    assert set(entropy["queries"]) == {2 * 6}  # two examples x the six bytes of " 12345"
    lm = CliRunner().invoke(app, ["compare", "--preset", "tiny", "--suite", "attention", "--encodings", "alibi",
                                  "--out", str(out)])
    assert lm.exit_code == 2 and "holds the attention of the passkey models" in lm.output, lm.output


def test_flip_flop_examples_are_measured_one_by_one_at_their_reads():
    source = replace(PRESETS["tiny"], models="flipflop", windows=3).source()
    batches = source.batches(64)
    assert len(batches) == 3 and all(b.tokens.shape == (1, 64) for b in batches)
    for batch in batches:  # each query measured predicts an answer bit: the byte after it is 0 or 1
        assert len(batch.queries) and set(batch.tokens[0, batch.queries + 1].tolist()) <= set(b"01")
        assert set(batch.tokens[0, batch.queries].tolist()) == set(b"r")  # ... read after an 'r'


def test_predicting_positions_are_those_before_the_answer():
    assert _predicting(torch.tensor([False, False, True, True])).tolist() == [1, 2]


@pytest.mark.parametrize("args, message", [
    (["--models", "copy", "--no-train"], "run the tasks suite (copy) first"),
    (["--models", "sonnet"], "sonnet"),
])
def test_bad_task_sources_are_one_line_exit_2(tmp_path, args, message):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["compare", "--preset", "tiny", "--suite", "attention", "--encodings", "rope",
                                      "--out", str(out), *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, result.output
    assert not out.exists()
