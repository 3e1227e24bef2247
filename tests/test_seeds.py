"""--seed and --seeds (pe_bench.seeds): parsing, how they reach the suites, bad input through the CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pe_bench.cli import app
from pe_bench.errors import InputError
from pe_bench.seeds import parse_seeds, seed_overrides
from pe_bench.suites import SUITES


def test_a_bare_integer_is_a_count_and_a_comma_makes_a_list():
    assert parse_seeds("3") == (0, 1, 2)
    assert parse_seeds("1") == (0,)
    assert parse_seeds("5, 7,2") == (5, 7, 2)


@pytest.mark.parametrize("text,message", [
    ("", "--seeds must be a count"),
    (" ", "--seeds must be a count"),
    ("0", "--seeds 0 is a count of seeds and must be from 1"),
    ("-2", "--seeds -2 is a count of seeds and must be from 1"),
    ("1,-1", "--seeds must be an integer from 0"),
    ("0,1,0", "--seeds lists seed 0 twice"),
    ("1.5", "--seeds must be a count"),
    ("0,a", "--seeds must be a count"),
    ("0,,1", "--seeds must be a count"),
])
def test_bad_seeds_are_refused(text, message):
    with pytest.raises(InputError, match=message):
        parse_seeds(text)


def test_seed_alone_is_every_suites_seed_and_both_are_refused():
    training = next(s for s in SUITES.values() if s.trains)
    other = next(s for s in SUITES.values() if not s.trains)
    assert seed_overrides(training, 4, None) == {"seeds": (4,)}
    assert seed_overrides(other, 4, None) == {"seed": 4}
    assert seed_overrides(training, None, (1, 2)) == {"seeds": (1, 2)}
    assert seed_overrides(training, None, None) == {"seeds": None}  # the preset decides
    with pytest.raises(InputError, match="--seed .* or --seeds .*, not both"):
        seed_overrides(other, 1, (1, 2))


def test_presets_say_how_many_seeds():
    extrapolation = SUITES["extrapolation"]
    assert extrapolation.presets["quick"].seeds == (0,)
    assert extrapolation.presets["standard"].seeds == (0, 1, 2)
    tasks = SUITES["tasks"]
    assert tasks.presets["quick"].seeds == (0,) and tasks.presets["standard"].seeds == (0, 1, 2)


@pytest.mark.parametrize("args,message", [
    (["--seeds", ""], "--seeds must be a count"),
    (["--seeds", "-1"], "--seeds -1 is a count of seeds"),
    (["--seeds", "0,0"], "--seeds lists seed 0 twice"),
    (["--seeds", "a,b"], "--seeds must be a count"),
    (["--seeds", "2", "--seed", "1"], "not both"),
    (["--seeds", "0,1", "--suite", "speed"], "--seeds applies to the extrapolation, attention and tasks suites"),
])
def test_bad_seeds_through_the_cli(args, message, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["compare", "--preset", "tiny", "--encodings", "nope",
                                      *(["--suite", "extrapolation"] if "--suite" not in args else []), *args,
                                      "--out", str(out)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
    assert not out.exists()
