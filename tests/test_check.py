"""`pe-bench check`: every registered encoding passes; an encoding that breaks a claim fails that
check with a detail line, and the other checks still run."""

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from pe_bench.check import registry as check_registry
from pe_bench.check import CHECKS, check, check_encoding, check_encodings, run_check
from pe_bench.cli import app
from pe_bench.encodings import ENCODINGS
from pe_bench.encodings.alibi import ALiBi, LinearDistanceBias
from pe_bench.encodings.learned import Learned
from pe_bench.encodings.rope import RoPE
from pe_bench.encodings.sinusoidal import Sinusoidal
from pe_bench.errors import InputError

from conftest import ALL_ENCODINGS

runner = CliRunner()


@pytest.mark.parametrize("name", ALL_ENCODINGS)
def test_every_registered_encoding_passes_every_check(name):
    results = check_encoding(name)
    assert [r.check for r in results] == list(CHECKS)
    assert all(r.encoding == name and r.detail for r in results)
    failed = [f"{r.check}: {r.detail}" for r in results if not r.passed]
    assert not failed, failed


# Deliberately broken encodings: each breaks one claim or one part of the contract.

class PositionBlindRoPE(RoPE):
    """Claims to be absolute, but rotates every position as position 0: nothing depends on position."""

    name = "broken-position-blind"
    shift_invariant = False

    def qk_transform(self, positions, dtype, reference=None):
        return super().qk_transform(positions * 0, dtype, reference)


class RelativeClaimSinusoidal(Sinusoidal):
    name = "broken-relative-claim"
    shift_invariant = True


class TransposedBias(LinearDistanceBias):
    def materialize(self, q_pos, k_pos):
        return super().materialize(q_pos, k_pos).transpose(1, 2)  # (H, S, Tq)


class WrongShapeBias(ALiBi):
    name = "broken-bias-shape"

    def attention_bias(self, dtype):
        return TransposedBias(self.slopes.to(dtype))


class DoubleSlopeScoreMod(LinearDistanceBias):
    def score_mod(self, q_pos, k_pos):
        return LinearDistanceBias(2 * self.slopes).score_mod(q_pos, k_pos)  # not what materialize adds


class FlexDisagrees(ALiBi):
    name = "broken-flex"

    def attention_bias(self, dtype):
        return DoubleSlopeScoreMod(self.slopes.to(dtype))


class UnenforcedMaxLen(Sinusoidal):
    """Declares a table of 64 positions but computes any position."""

    name = "broken-max-len"
    max_len = 64


class UnusedParameter(Learned):
    name = "broken-unused-parameter"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.unused = nn.Parameter(torch.zeros(3))


class ExactButClaimsNot(RoPE):
    name = "broken-exact-cache-claim"
    exact_cache = False


class CausalOnlyNotEnforced(RoPE):
    name = "broken-causal-only"
    causal_only = True

    def __init__(self, *, causal=True, **kwargs):
        super().__init__(causal=True, **kwargs)  # never sees the bidirectional request


class NotABool(RoPE):
    name = "broken-claim-type"
    shift_invariant = "yes"


@pytest.mark.parametrize("cls,check_title,detail", [
    (PositionBlindRoPE, "shift claim", "claims shift_invariant = False, but logits change by at most"),
    (RelativeClaimSinusoidal, "shift claim", "claims shift_invariant, but logits change by"),
    (WrongShapeBias, "interface", "materialize gave (4, 13, 5), expected (H, Tq, S) = (4, 5, 13)"),
    (FlexDisagrees, "backends agree", "flex differs from eager by"),
    (UnenforcedMaxLen, "maximum length", "declares max_len 64, but position 64 gave logits"),
    (UnusedParameter, "gradients", "parameter 'unused' gets no gradient (eager)"),
    (ExactButClaimsNot, "cached decoding", "claims exact_cache = False, but cached decoding matches"),
    (CausalOnlyNotEnforced, "causal-only claim", "claims causal_only, but a bidirectional model builds"),
    (NotABool, "interface", "shift_invariant is 'yes', not a bool"),
])
def test_a_broken_claim_fails_its_check_with_a_detail(monkeypatch, cls, check_title, detail):
    monkeypatch.setitem(ENCODINGS, cls.name, cls)
    [result] = run_check(cls.name, check_title)
    assert not result.passed
    assert detail in result.detail and "\n" not in result.detail


def test_the_broken_encodings_keep_their_other_claims(monkeypatch):
    """Each broken encoding above fails only where it is broken, on the checks it was aimed at."""
    for cls, intact in ((PositionBlindRoPE, "cached decoding"), (UnenforcedMaxLen, "shift claim"),
                        (UnusedParameter, "maximum length"), (FlexDisagrees, "interface")):
        monkeypatch.setitem(ENCODINGS, cls.name, cls)
        [result] = run_check(cls.name, intact)
        assert result.passed, (cls.name, result.detail)
    assert "skipped (past max_len 64)" in run_check(UnenforcedMaxLen.name, "shift claim")[0].detail


class Crashes(RoPE):
    """A plugin with a bug: its hook raises."""

    name = "broken-crashes"

    def qk_transform(self, positions, dtype, reference=None):
        raise RuntimeError("boom\nsecond line")


def test_an_exception_is_a_failed_result_and_every_other_check_still_runs(monkeypatch):
    monkeypatch.setitem(ENCODINGS, Crashes.name, Crashes)
    results = check_encoding(Crashes.name)
    assert [r.check for r in results] == list(CHECKS)
    by_check = {r.check: r for r in results}
    assert not by_check["interface"].passed
    assert by_check["interface"].detail == "raised RuntimeError: boom second line"
    assert by_check["causal-only claim"].passed  # building never calls the hook


def test_a_new_check_is_one_function_plus_one_line(monkeypatch):
    monkeypatch.setattr(check_registry, "CHECKS", dict(CHECKS))  # what @check adds to, forgotten afterwards
    torch.manual_seed(123)  # not the seed checks run under
    state = torch.random.get_rng_state()

    @check("toy")
    def toy(name):
        torch.rand(3)  # the caller's random state is left alone
        return name == "nope", "toy measured"

    def several(name):
        raise ValueError("bad input to a plugin")

    check_registry.CHECKS["several"] = several
    results = check_encoding("nope")
    assert torch.equal(torch.random.get_rng_state(), state)
    toy_result, several_result = results[-2:]
    assert (toy_result.check, toy_result.passed, toy_result.detail) == ("toy", True, "toy measured")
    assert not several_result.passed and several_result.detail == "raised ValueError: bad input to a plugin"


def test_every_name_is_validated_before_any_check_runs(monkeypatch):
    ran = []
    monkeypatch.setattr(check_registry, "CHECKS", {"record": lambda name: ran.append(name)})
    with pytest.raises(InputError, match="unknown encoding 'no-such'"):
        check_encodings(["rope", "no-such"])
    assert ran == []


def invoke(*args):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_cli_check_prints_the_table_and_exits_0():
    result = invoke("check", "rope")
    assert result.exit_code == 0, result.output
    assert "conformance checks" in result.output and "FAIL" not in result.output
    for title in CHECKS:
        assert title in result.output
    assert f"{len(CHECKS)} of {len(CHECKS)} checks passed" in result.output


def test_cli_check_of_an_unknown_name_is_one_line_exit_2():
    result = invoke("check", "rope", "no-such")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "unknown encoding 'no-such'" in lines[0]


def test_cli_check_of_a_broken_encoding_exits_1_with_a_line_per_failure(monkeypatch):
    monkeypatch.setitem(ENCODINGS, UnenforcedMaxLen.name, UnenforcedMaxLen)
    result = invoke("check", UnenforcedMaxLen.name)
    assert result.exit_code == 1, result.output
    failures = [line for line in result.output.splitlines() if line.startswith("FAIL ")]
    assert failures == [f"FAIL {UnenforcedMaxLen.name} / maximum length: declares max_len 64, but position 64 "
                        "gave logits instead of PositionOutOfRange"]
    assert f"{len(CHECKS) - 1} of {len(CHECKS)} checks passed" in result.output
