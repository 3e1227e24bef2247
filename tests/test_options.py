"""Parsing user input (pe_bench.options): lists without duplicates, seeds torch can take, 'all' alone."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pe_bench.cli import app
from pe_bench.errors import InputError
from pe_bench.options import MAX_SEED, check_seed, parse_choices, parse_int_list


def test_int_lists_parse_and_keep_their_order():
    assert parse_int_list("32, 16,64", "--seq-lens") == (32, 16, 64)


@pytest.mark.parametrize("text,message", [
    ("16,16,32", "--eval-lens lists 16 twice"),
    ("16,32,016", "--eval-lens lists 16 twice"),
])
def test_an_int_list_with_a_value_twice_is_refused(text, message):
    with pytest.raises(InputError, match=message):
        parse_int_list(text, "--eval-lens")


@pytest.mark.parametrize("seed", [0, 1, 12345, MAX_SEED - 1])
def test_seeds_torch_can_take_are_accepted(seed):
    assert check_seed(seed, "--seed") == seed


@pytest.mark.parametrize("seed", [-1, MAX_SEED, 99999999999999999999999])
def test_seeds_outside_0_to_2_63_are_refused(seed):
    with pytest.raises(InputError, match=rf"--seed must be an integer from 0 to {MAX_SEED - 1}, got {seed}"):
        check_seed(seed, "--seed")


def test_all_among_other_names_says_so():
    with pytest.raises(InputError, match="--suite takes all alone or a list of names"):
        parse_choices("all,speed", "--suite", ["speed", "kvcache"], allow_all=True)
    assert parse_choices("all", "--suite", ["speed", "kvcache"], allow_all=True) == ("speed", "kvcache")


def one_line_exit_2(args: list[str], message: str, out) -> None:
    result = CliRunner().invoke(app, ["compare", "--preset", "tiny", *args, "--out", str(out)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
    assert not out.exists()


def test_duplicate_eval_lens_through_the_cli(tmp_path):
    one_line_exit_2(["--suite", "extrapolation", "--eval-lens", "16,16,32"], "--eval-lens lists 16 twice",
                    tmp_path / "out")


def test_duplicate_seq_lens_through_the_cli(tmp_path):
    one_line_exit_2(["--suite", "speed", "--seq-lens", "32,32"], "--seq-lens lists 32 twice", tmp_path / "out")


def test_an_absurd_seed_through_the_cli(tmp_path):
    """Typer takes any int: the runner's plan must call ``check_seed`` before any work."""
    one_line_exit_2(["--suite", "speed", "--seq-lens", "32", "--backends", "sdpa", "--modes", "inference",
                     "--encodings", "rope", "--seed", "99999999999999999999999"],
                    f"--seed must be an integer from 0 to {MAX_SEED - 1}", tmp_path / "out")
