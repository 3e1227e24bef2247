from typer.testing import CliRunner

from pe_bench import __version__
from pe_bench.cli import app
from pe_bench.encodings import ENCODINGS

runner = CliRunner()


def test_list_names_all_six():
    result = runner.invoke(app, ["list"], env={"COLUMNS": "160"})
    assert result.exit_code == 0
    for name in ENCODINGS:
        assert name in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_show_explains_an_encoding():
    result = runner.invoke(app, ["show", "rope"])
    assert result.exit_code == 0 and "rotary" in result.output and "halves" in result.output


def test_unknown_encoding_is_one_line_exit_2_with_valid_names():
    result = runner.invoke(app, ["show", "xpos"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "unknown encoding 'xpos'" in lines[0] and "sinusoidal, learned, t5, rope, alibi, nope" in lines[0]
    assert "Traceback" not in result.output


def test_unknown_option_is_one_line_exit_2():
    result = runner.invoke(app, ["list", "--colour"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["Error: No such option: --colour"]
