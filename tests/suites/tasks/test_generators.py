"""The task generators make what they claim: exact lengths, the answer where it belongs, seeded."""

import re

import pytest
import torch

from pe_bench.suites.tasks.generators import TASKS
from pe_bench.suites.tasks.generators import copy, flipflop, passkey, recall


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("offset", [0, 1, 2, 37])
def test_every_task_makes_exactly_the_length_asked_with_answers_inside(task, offset):
    length = TASKS[task].min_length + offset
    e = TASKS[task].make(length, gen(), None)
    assert e.tokens.shape == e.answer.shape == (length,)
    assert e.answer.any() and not e.answer[0]  # something to answer, never the first byte (nothing before it)
    assert int(e.tokens.max()) < 128  # ASCII bytes


@pytest.mark.parametrize("task", list(TASKS))
def test_the_same_seed_makes_the_same_example_and_another_seed_another(task):
    length = TASKS[task].min_length + 20
    a, b, c = (TASKS[task].make(length, gen(s), None) for s in (3, 3, 4))
    assert torch.equal(a.tokens, b.tokens) and not torch.equal(a.tokens, c.tokens)


@pytest.mark.parametrize("depth", [None, *passkey.DEPTHS.values()])
@pytest.mark.parametrize("length", [passkey.MIN_LENGTH, 200, 1000])
def test_a_passkey_example_holds_its_key_line_once_and_the_question_at_the_end(length, depth):
    e = passkey.make(length, gen(), depth)
    key = e.answer_text.strip()
    assert re.fullmatch(r"[1-9]\d{4}", key) and e.answer_text == " " + key
    prompt = e.text[: -len(e.answer_text)]
    line = passkey.needle(key)
    assert prompt.count(line) == 1  # the key line exactly once
    assert prompt.count(key) == line.count(key)  # the key nowhere else
    assert prompt.endswith(passkey.QUESTION)
    assert e.answer.nonzero().flatten().tolist() == list(range(length - 6, length))


def test_passkey_depth_puts_the_line_first_in_the_middle_or_last():
    where = {name: passkey.make(1000, gen(), depth).text.index("The pass key is")
             for name, depth in passkey.DEPTHS.items()}
    assert where["start"] == 0
    assert where["start"] < where["middle"] < where["end"]
    assert 350 < where["middle"] < 550
    e = passkey.make(1000, gen(), passkey.DEPTHS["end"])
    assert e.text.index("What is the pass key?") == where["end"] + len(passkey.needle(e.answer_text.strip()))


@pytest.mark.parametrize("length", [copy.MIN_LENGTH, 6, 33, 64])
def test_a_copy_target_equals_its_source(length):
    e = copy.make(length, gen(), None)
    prompt = e.text[: len(e.text) - int(e.answer.sum())]
    source = prompt.lstrip(".").removesuffix(copy.SEPARATOR)
    assert e.answer_text == source and len(source) == (length - 1) // 2
    assert set(source) <= set(copy.ALPHABET)
    assert e.answer.nonzero().flatten().tolist() == list(range(length - len(source), length))


@pytest.mark.parametrize("length", [recall.MIN_LENGTH, 30, 101, 400])
def test_recall_answers_are_the_values_paired_with_the_queried_keys(length):
    e = recall.make(length, gen(), None)
    text = e.text.lstrip(".")
    pairs_text, queries_text = text.split(recall.SEPARATOR)
    pairs = dict(zip(pairs_text[0::2], pairs_text[1::2]))
    assert len(pairs) == len(pairs_text) // 2  # keys distinct
    assert set(pairs) <= set(recall.KEYS) and set(pairs.values()) <= set(recall.VALUES)
    keys, values = queries_text[0::2], queries_text[1::2]
    assert len(keys) >= 1 and values == "".join(pairs[k] for k in keys)
    assert e.answer_text == values  # every answer byte is a queried value, in order


@pytest.mark.parametrize("depth", [None, *flipflop.DEPTHS.values()])
@pytest.mark.parametrize("length", [4, 9, 64, 301])
def test_every_flip_flop_answer_is_the_last_written_bit(length, depth):
    for seed in range(5):
        e = flipflop.make(length, gen(seed), depth)
        text, answer = e.text, e.answer.tolist()
        body = text.lstrip(".")
        start = len(text) - len(body)
        assert len(body) % 2 == 0 and body[0] == "w" and body[-2] == "r"  # a write first, a read last
        last = None
        for k in range(0, len(body), 2):
            op, bit = body[k], body[k + 1]
            assert op in "wir" and bit in "01"
            assert answer[start + k + 1] == (op == "r") and not answer[start + k]
            if op == "w":
                last = bit
            elif op == "r":
                assert bit == last


def test_flip_flop_mixes_set_how_often_each_instruction_comes():
    def share(depth, op):
        body = "".join(flipflop.make(2000, gen(s), depth).text for s in range(3))[0::2]
        return body.count(op) / len(body)
    assert abs(share(None, "i") - 0.8) < 0.03 and abs(share(0.98, "i") - 0.98) < 0.01
    assert abs(share(0.1, "r") - 0.45) < 0.03
    e = flipflop.make(2000, gen(0), None, flip_flop_probs=(0.5, 0.0, 0.5))
    assert "i" not in e.text[0::2]


def test_flip_flop_probabilities_are_checked():
    from pe_bench.errors import InputError
    assert flipflop.check_probs((0.1, 0.8, 0.1)) == (0.1, 0.8, 0.1)
    for bad in [(0.1, 0.8), (0.5, 0.6, -0.1), (0.2, 0.2, 0.2), (0.5, 0.5, 0.0), (float("nan"), 0.5, 0.5)]:
        with pytest.raises(InputError):
            flipflop.check_probs(bad)
