import pytest
from typer.testing import CliRunner

from pe_bench import __version__
from pe_bench.cli import app
from pe_bench.encodings import ENCODINGS
from pe_bench.suites import SUITES

runner = CliRunner()


def test_list_names_every_registered_encoding():
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
    result = runner.invoke(app, ["show", "no-such-encoding"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "unknown encoding 'no-such-encoding'" in lines[0] and ", ".join(ENCODINGS) in lines[0]
    assert "Traceback" not in result.output


def test_unknown_option_is_one_line_exit_2():
    result = runner.invoke(app, ["list", "--colour"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["Error: No such option: --colour"]


def test_plot_over_a_missing_folder_exits_2(tmp_path):
    result = runner.invoke(app, ["plot", "--results", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "does not exist" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_plot_over_an_empty_folder_has_nothing_to_plot_exit_1(tmp_path):
    result = runner.invoke(app, ["plot", "--results", str(tmp_path)])
    assert result.exit_code == 1 and "nothing to plot" in result.output
    assert not (tmp_path / "plots").exists()


def test_plot_over_garbage_exits_2_and_leaves_it_untouched(tmp_path):
    (tmp_path / "speed.csv").write_bytes(b"\x00\xff garbage \x01")
    (tmp_path / "shift.csv").write_text("a,b\n1,2\n")
    for name in ("speed.csv", "shift.csv"):
        before = (tmp_path / name).read_bytes()
        only = tmp_path / name.split(".")[0]
        only.mkdir()
        (only / name).write_bytes(before)
        result = runner.invoke(app, ["plot", "--results", str(only)])
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1 and name in result.output
        assert (only / name).read_bytes() == before and not (only / "plots").exists()


def test_plot_draws_from_saved_tables(tmp_path):
    from pe_bench.suites.kvcache import SHIFT

    rows = [{c: "" for c in SHIFT.column_names} | {"encoding": e, "backend": "sdpa", "offset": o, "seq_len": 16,
                                              "max_abs_logit_diff": d, "supported": True}
            for e, d in (("rope", 1e-7), ("sinusoidal", 0.3)) for o in (1, 10, 100)]
    import pandas as pd

    pd.DataFrame(rows).to_csv(tmp_path / "shift.csv", index=False)
    result = runner.invoke(app, ["plot", "--results", str(tmp_path), "--format", "svg"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "plots" / "shift_invariance.svg").stat().st_size > 1000
    assert "skipped ppl_vs_length" in result.output and "no extrapolation.csv" in result.output


def test_help_shows_the_choices_of_every_option_that_has_them():
    from pe_bench.suites import SUITES

    result = runner.invoke(app, ["compare", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "[tiny|quick|standard|large]" in text and "[ddp|sweep]" in text
    assert f"({', '.join(SUITES)}), or all" in text
    for suite in SUITES.values():
        assert f"{suite.name}" in text and " options " in text  # a help panel per suite (and shared ones)
        for option in suite.options:
            assert option.flag in text
            if option.choices:
                assert ", ".join(option.choices) in text
            if not option.is_flag:
                assert "[default: (preset)]" in text  # the preset decides: said so, not left blank


def test_help_at_80_columns_splits_no_word():
    """Choices live in the help text, which wraps at spaces; a metavar of choices would break mid-word."""
    result = runner.invoke(app, ["compare", "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert "SUITE,...|all" in result.output and "[speed|" not in result.output
    assert f"{', '.join(list(SUITES)[-2:])}), or all" in " ".join(result.output.replace("│", " ").split())
    for line in result.output.splitlines():
        assert len(line) <= 80


def complete(words: str) -> list[str]:
    """What the shell's completion would offer for the last of ``words``."""
    env = {"_PE_BENCH_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    result = runner.invoke(app, [], env=env, prog_name="pe-bench")
    return result.output.split()


def test_shell_completion_completes_encodings_suites_and_lists():
    assert complete("pe-bench show rop") == [n for n in ENCODINGS if n.startswith("rop")]
    assert complete("pe-bench compare --encodings rope,al") == ["rope,alibi"]
    assert complete("pe-bench run --suite sp") == ["speed"]
    assert complete("pe-bench run --suite al") == ["all"]  # accepted alone, so offered only before a comma
    assert complete("pe-bench run --suite speed,al") == []
    assert complete("pe-bench compare --backends sdpa,f") == ["sdpa,flex"]
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "--install-completion" in result.output


@pytest.mark.parametrize("distribute", ["sweep", "ddp"])
def test_distribute_outside_torchrun_is_one_line_exit_2_and_writes_nothing(tmp_path, monkeypatch, distribute):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("pe_bench.session.execute", lambda *args, **kwargs: pytest.fail("the run started"))
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "-e", "rope", "--suite", "speed", "--preset", "tiny", "--out", str(out),
                                 "--distribute", distribute])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.output.strip()]
    assert result.output.startswith("Error: --distribute applies under torchrun only; ")
    assert not out.exists()


def test_without_distribute_a_run_outside_torchrun_starts(tmp_path, monkeypatch):
    class Started(Exception):
        pass

    def execute(*args: object, **kwargs: object) -> None:
        raise Started

    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("pe_bench.session.execute", execute)
    result = runner.invoke(app, ["run", "-e", "rope", "--suite", "speed", "--preset", "tiny",
                                 "--out", str(tmp_path / "out")])
    assert isinstance(result.exception, Started)
