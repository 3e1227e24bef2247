"""After --resume, summary.md names every run that measured its rows, not only the last command."""

import json

import pe_bench
from pe_bench.suite import RunContext
from pe_bench.suites import SUITES


def test_a_resumed_run_names_the_run_that_measured_most_rows(tmp_path, monkeypatch):
    out = tmp_path / "out"
    kvcache = SUITES["kvcache"]
    real_run = kvcache.run

    def interrupted(encodings, settings, ctx: RunContext):  # noqa: ANN001, ANN202
        yield next(iter(real_run(encodings, settings, ctx)))  # the first batch, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(kvcache, "run", interrupted)
    try:
        pe_bench.run("rope", "kvcache", "tiny", device="cpu", out=out, plots=False, command=["pe-bench", "first"])
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    pe_bench.run("rope", "kvcache", "tiny", device="cpu", out=out, plots=False, resume=True,
                 command=["pe-bench", "second", "--resume"])
    runs = json.loads((out / "manifest.json").read_text())["runs"]
    assert [r["status"] for r in runs] == ["interrupted", "completed"]
    text = (out / "summary.md").read_text()
    assert "measured by 2 runs" in text
    assert "`pe-bench first`" in text and "interrupted" in text and "`pe-bench second --resume`" in text
    assert "Every figure below was measured by that command" not in text


def test_one_run_is_named_as_before(tmp_path):
    pe_bench.run("rope", "kvcache", "tiny", device="cpu", out=tmp_path, plots=False, command=["pe-bench", "only"])
    assert "Every figure below was measured by that command" in (tmp_path / "summary.md").read_text()
