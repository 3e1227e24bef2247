"""summary.html: self-contained (figures embedded, nothing fetched), and it renders in a real browser."""

import re
import shutil
import subprocess

import pytest

import pe_bench

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    pe_bench.run("rope", "speed", "tiny", device="cpu", out=out, backends=("sdpa",), seq_lens=(32,),
                 modes=("inference",))
    return out / "summary.html"


def test_it_is_self_contained_with_every_section(report):
    page = report.read_text()
    assert not re.search(r'(src|href)="https?://', page)  # nothing fetched from the network
    assert page.count('src="data:image/png;base64,') >= 1  # the figures are inside the page
    for heading in ("Summary", "Legend", "Each suite&#x27;s tables", "Figures", "Settings", "Files"):
        assert f">{heading}</h2>" in page, heading
    assert page.count("<table>") >= 2 and "<td>rope</td>" in page
    assert '<a href="#summary">' in page  # the table of contents links the sections


@pytest.mark.skipif(BROWSER is None, reason="no chromium installed (Debian: apt-get install chromium)")
def test_a_headless_browser_renders_its_tables_and_images_without_console_errors(report, tmp_path):
    flags = [BROWSER, "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,2000"]
    shot = tmp_path / "page.png"
    done = subprocess.run([*flags, "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", report.as_uri()],
                          capture_output=True, text=True, timeout=90)
    assert shot.is_file() and shot.stat().st_size > 10_000, done.stderr[-2000:]
    console_errors = [line for line in done.stderr.splitlines() if "CONSOLE" in line and ("Uncaught" in line or "rror" in line)]
    assert not console_errors, console_errors
    dom = subprocess.run([*flags, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=90).stdout
    assert dom.count("<table") >= 2 and "<img" in dom and "rope" in dom
