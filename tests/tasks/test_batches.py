"""Training batches and randomized positions."""

import pytest
import torch

from pe_bench.tasks import TASKS
from pe_bench.tasks.batches import randomized_positions, sampler, stack


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
        assert TASKS[task].min_length <= T + 1 <= max_len
        if randomize:
            assert positions.shape == (T,) and (positions[1:] > positions[:-1]).all()
            assert int(positions.max()) < randomize * max_len
        else:
            assert positions is None
    assert len(lengths) > 1  # lengths vary across steps


@pytest.mark.parametrize("task", list(TASKS))
def test_the_loss_mask_keeps_exactly_the_answer_bytes(task):
    max_len = TASKS[task].min_length + 8
    x, y, _, mask = sampler(task, max_len, batch_size=2)(torch.Generator().manual_seed(5))
    again = torch.Generator().manual_seed(5)  # the same draws: the length, then the examples
    length = int(torch.randint(TASKS[task].min_length, max_len + 1, (), generator=again))
    tokens, answer = stack(task, length, 2, again)
    assert torch.equal(y, tokens[:, 1:])
    for row in range(2):
        assert torch.equal(y[row][mask[row]], tokens[row][answer])  # the targets kept are the answers, in order


def test_a_shortest_length_bounds_the_training_lengths_from_below():
    g = torch.Generator().manual_seed(0)
    draw = sampler("copy", 16, batch_size=2, shortest=12)
    lengths = {draw(g)[0].shape[1] + 1 for _ in range(40)}
    assert min(lengths) == 12 and max(lengths) == 16
