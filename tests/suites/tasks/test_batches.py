"""Training batches and randomized positions."""

import pytest
import torch

from pe_bench.suites.tasks.generators import TASKS
from pe_bench.suites.tasks.generators.batches import PAD, randomized_positions, sampler, stack


@pytest.mark.parametrize("length,span", [(1, 1), (7, 7), (31, 256), (100, 800)])
def test_randomized_positions_are_sorted_unique_and_in_range(length, span):
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        p = randomized_positions(length, span, g)
        assert p.shape == (length,) and p.dtype == torch.long
        assert (p[1:] > p[:-1]).all()  # sorted, hence unique
        assert int(p.min()) >= 0 and int(p.max()) < span


def test_randomized_positions_change_every_draw_and_reach_past_the_length():
    g = torch.Generator().manual_seed(0)
    draws = [randomized_positions(16, 128, g) for _ in range(10)]
    assert len({tuple(d.tolist()) for d in draws}) == 10
    assert max(int(d.max()) for d in draws) >= 16  # not just 0..T-1


def test_randomized_positions_refuse_a_span_shorter_than_the_length():
    with pytest.raises(ValueError):
        randomized_positions(9, 8, torch.Generator())


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("randomize", [0, 64])
def test_a_batch_is_next_byte_pairs_masked_to_the_answers(task, randomize):
    max_len = TASKS[task].min_length + 8
    sample = sampler(task, max_len, batch_size=3, randomize=randomize * max_len)
    g = torch.Generator().manual_seed(1)
    lengths = set()
    for _ in range(10):
        x, y, positions, mask = sample(g)
        T = x.shape[1]
        lengths.add(T + 1)
        assert x.shape == y.shape == mask.shape == (3, T)
        assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
        assert mask.any() and mask.dtype == torch.bool
        assert T + 1 <= max_len
        if randomize:
            assert positions.shape == (T,) and (positions[1:] > positions[:-1]).all()
            assert int(positions.max()) < randomize * max_len
        else:
            assert positions is None
    assert len(lengths) > 1  # the longest of a batch varies across steps


@pytest.mark.parametrize("task", list(TASKS))
def test_the_loss_mask_keeps_exactly_the_answer_bytes_and_never_padding(task):
    max_len = TASKS[task].min_length + 8
    x, y, _, mask = sampler(task, max_len, batch_size=4)(torch.Generator().manual_seed(5))
    again = torch.Generator().manual_seed(5)  # the same draws: the lengths, then the examples in order
    lengths = torch.randint(TASKS[task].min_length, max_len + 1, (4,), generator=again).tolist()
    for row, length in enumerate(lengths):
        e = TASKS[task].make(length, again, None)
        assert torch.equal(y[row, : length - 1], e.tokens[1:])  # the example, then padding
        assert (y[row, length - 1:] == PAD).all() and not mask[row, length - 1:].any()
        assert torch.equal(y[row][mask[row]], e.tokens[e.answer])  # the targets kept are the answers, in order


def test_examples_of_one_batch_have_different_lengths():
    """One length per batch gave every example of a step the same string-to-copy offset, which each step then
    rewarded by position; the copy circuit did not form (issue 21). A batch mixes lengths."""
    x, y, _, mask = sampler("copy", 33, batch_size=64, shortest=3)(torch.Generator().manual_seed(0))
    lengths = {int((row != PAD).sum()) for row in y}
    assert len(lengths) > 10


def test_a_shortest_length_bounds_the_training_lengths_from_below():
    g = torch.Generator().manual_seed(0)
    draw = sampler("copy", 16, batch_size=8, shortest=12)
    lengths = {int((row != PAD).sum()) + 1 for _ in range(20) for row in draw(g)[1]}
    assert min(lengths) == 12 and max(lengths) == 16


def test_answer_weighted_loss_weights_score_every_byte_and_the_answers_more():
    """Passkey's quick recipe scores every byte, its answer bytes 3 times over (issue 21): the weights."""
    x, y, _, mask = sampler("passkey", 128, batch_size=4)(torch.Generator().manual_seed(5))
    _, y2, _, weights = sampler("passkey", 128, batch_size=4, answer_weight=3.0)(torch.Generator().manual_seed(5))
    assert torch.equal(y, y2) and weights.dtype == torch.float32
    assert weights.sum().item() == pytest.approx(1.0)
    valid = y != PAD
    assert (weights[~valid] == 0).all() and (weights[valid] > 0).all()  # every byte but padding counts
    n_valid, n_answer = int(valid.sum()), int(mask.sum())
    assert weights[mask][0].item() == pytest.approx((1 / n_valid + 3 / n_answer) / 4)
    assert weights[valid & ~mask][0].item() == pytest.approx(1 / n_valid / 4)


def test_a_recipes_answer_weight_is_part_of_the_checkpoints_identity():
    from dataclasses import replace

    from pe_bench.runtime import make_runtime
    from pe_bench.suites import SUITES
    from pe_bench.suites.tasks.spec import identity

    settings = SUITES["tasks"].settings("quick", tasks=("passkey",))
    plain = replace(settings, recipes="standard")  # the standard recipe scores the answer alone
    runtime = make_runtime("cpu")
    keys = {str(identity("rope", "passkey", False, 0, s, runtime)["corpus"]) for s in (settings, plain)}
    assert len(keys) == 2 and any("answer_weight3.0" in k for k in keys)


def test_training_with_float_weights_takes_the_weighted_mean_of_the_targets_losses():
    """Weights that put all of the loss on the answers train exactly as the answer mask does."""
    from pe_bench.model import build_model
    from pe_bench.runtime import make_runtime
    from pe_bench.training import TrainConfig, train

    masked = sampler("copy", 12, batch_size=4)

    def weighted(generator: torch.Generator):
        x, y, positions, mask = masked(generator)
        return x, y, positions, mask.float() / mask.sum()

    def everything(generator: torch.Generator):
        x, y, positions, mask = masked(generator)
        return x, y, positions, torch.full(mask.shape, 1.0)

    config = TrainConfig(train_len=12, steps=3, batch_size=4, lr=1e-2, warmup=1, seed=0, log_every=1)
    curves = [train(build_model("rope", "tiny", seed=0), None, config, make_runtime("cpu"), sampler=s).curve
              for s in (masked, weighted, everything)]
    losses = [[point["loss"] for point in curve] for curve in curves]
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    assert losses[2] != pytest.approx(losses[0], rel=1e-3)  # scoring every byte is another loss
