"""The README's "Add your own encoding" commands, run on the tiny preset; every way a plugin can be
wrong is one line, exit 2, and nothing written."""

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pe_bench.cli import app

ROOT = Path(__file__).resolve().parents[2]
GAUSSIAN = str(ROOT / "examples" / "gaussian.py") + ":Gaussian"
runner = CliRunner()
FAST = ["--preset", "tiny", "--suite", "speed", "--seq-lens", "16", "--backends", "sdpa", "--modes", "inference",
        "--no-plots"]


@pytest.fixture(autouse=True)
def forget_plugins(plugin_registry):
    return plugin_registry


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_check_of_the_example_plugin_passes():
    result = invoke("check", GAUSSIAN)
    assert result.exit_code == 0, result.output
    assert "gaussian" in result.output and "FAIL" not in result.output


def test_compare_runs_the_example_plugin_beside_built_ins_and_the_manifest_names_its_source(tmp_path):
    result = invoke("compare", "--encodings", f"rope,alibi,{GAUSSIAN}", *FAST, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    speed = pd.read_csv(tmp_path / "speed.csv")
    assert set(speed["encoding"]) == {"nope", "rope", "alibi", "gaussian"}
    run = json.loads((tmp_path / "manifest.json").read_text())["runs"][-1]
    source = run["encoding_sources"]["gaussian"]
    assert source["kind"] == "file" and source["path"].endswith("gaussian.py") and len(source["sha256"]) == 64
    assert "gaussian" in pd.read_csv(tmp_path / "summary.csv")["encoding"].tolist()


def test_show_and_run_take_a_plugin_too(tmp_path):
    assert "Gaussian" in invoke("show", GAUSSIAN).output
    assert invoke("run", "--encoding", GAUSSIAN, *FAST, "--out", str(tmp_path)).exit_code == 0


BROKEN = {
    "missing": (None, "does not exist"),
    "syntax": ("def broken(:\n", "syntax error"),
    "import": ("import no_such_module_anywhere\n", "raised ModuleNotFoundError"),
    "no class": ("x = 1\n", "has no class 'Plugin'"),
    "not an encoding": ("class Plugin:\n    pass\n", "is not a positional encoding"),
    "clash": ("""
        from pe_bench.encodings.base import Family, PositionalEncoding
        class Plugin(PositionalEncoding):
            name, family, description, shift_invariant = "rope", Family.NONE, "x", True
        """, "the name of a built-in encoding"),
    "constructor raises": ("""
        from pe_bench.encodings.base import Family, PositionalEncoding
        class Plugin(PositionalEncoding):
            name, family, description, shift_invariant = "raises", Family.NONE, "x", True
            def __init__(self, **kwargs):
                raise RuntimeError("no GPU found")
        """, "raised RuntimeError: no GPU found"),
    "wrong shape": ("""
        import torch
        from pe_bench.encodings.base import Family, PositionalEncoding
        class Plugin(PositionalEncoding):
            name, family, description, shift_invariant = "misshapen", Family.EMBEDDING, "x", False
            def embedding(self, positions, dtype):
                return torch.zeros(len(positions), 3)
        """, "embedding gave"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_plugin_is_one_line_exit_2_naming_the_file_and_nothing_is_written(tmp_path, case):
    source, message = BROKEN[case]
    path = tmp_path / "plugin.py"
    if source is not None:
        path.write_text(textwrap.dedent(source))
    out = tmp_path / "out"
    result = invoke("compare", "--encodings", f"rope,{path}:Plugin", *FAST, "--out", str(out))
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert message in lines[0] and str(path) in lines[0] and "Traceback" not in result.output
    assert not out.exists()
