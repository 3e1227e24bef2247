"""pe-bench peers on tiny shapes: every library x encoding x mode has a row, the files are written
into a folder pe-bench owns; without the extras, one line naming the install command, exit 2."""

import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from pe_bench.cli import app

pytest.importorskip("x_transformers")
pytest.importorskip("transformers")

runner = CliRunner()
TINY = ["--preset", "tiny", "--seq-len", "8", "--context", "8", "--repeats", "2", "--batch-size", "1"]


def test_peers_writes_a_row_per_library_encoding_and_mode(tmp_path):
    from pe_bench.peers import PEERS
    from pe_bench.peers.models import PEER_ENCODINGS, llama_intermediate

    result = runner.invoke(app, ["peers", "--out", str(tmp_path), *TINY])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(tmp_path / "peers.csv")
    assert list(rows.columns) == list(PEERS.column_names)
    for mode in ("inference", "train"):
        got = rows[rows["mode"] == mode]
        assert len(got) == 2 * len(PEER_ENCODINGS) + 1  # pe-bench and x-transformers, each encoding; Llama (rope)
    decode = rows[rows["mode"] == "decode"]
    assert set(decode["library"]) == {"pe-bench", "hf-llama"} and (decode["batch_size"] == 1).all()
    assert (rows["ms_median"] > 0).all() and (rows["repeats"] == 2).all()
    ours = rows[rows["library"] == "pe-bench"]
    assert (ours["x_pe_bench"] == 1.0).all()
    assert (rows["ratio_ci_low"] <= rows["x_pe_bench"]).all() and (rows["x_pe_bench"] <= rows["ratio_ci_high"]).all()
    assert "| hf-llama | rope | decode |" in (tmp_path / "peers.md").read_text()
    assert (tmp_path / ".pe-bench").is_file()
    # the gated MLP holds as many weights as pe-bench's, to rounding
    assert abs(3 * 128 * llama_intermediate(128, 4) - 8 * 128 * 128) <= 3 * 128 / 2


def test_missing_extras_is_one_line_naming_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "x_transformers", None)  # what an absent package looks like to import
    result = runner.invoke(app, ["peers", "--out", str(tmp_path / "new"), *TINY])
    assert result.exit_code == 2
    assert 'pip install -e ".[peers]"' in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "new").exists()


def test_bad_input_is_refused_before_any_work(tmp_path):
    (tmp_path / "mine.txt").write_text("a user's file")
    result = runner.invoke(app, ["peers", "--out", str(tmp_path), *TINY])
    assert result.exit_code == 2 and "did not write" in result.output
    result = runner.invoke(app, ["peers", "--out", str(tmp_path / "x"), *TINY, "--seq-len", "0"])
    assert result.exit_code == 2 and "--seq-len" in result.output and not (tmp_path / "x").exists()
