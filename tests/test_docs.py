"""The documentation site builds, and every pe-bench command it or the README shows still parses.

The README keeps the quick start (tests/test_readme.py); the rest lives in docs/, built with
MkDocs in strict mode, so a broken link, a missing anchor or a page left out of the nav fails
here and in CI. A command in a ```bash block is parsed by the real CLI (subcommand, options,
their values); one in an inline code span is held to its subcommand and option names.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from pe_bench.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CLI = typer.main.get_command(app)

BASH_BLOCK = re.compile(r"^[ \t]*```(?:bash|sh|shell)[ \t]*\n(.*?)^[ \t]*```", flags=re.S | re.M)
ANY_BLOCK = re.compile(r"^[ \t]*```.*?^[ \t]*```", flags=re.S | re.M)
INLINE = re.compile(r"`(pe-bench [^`]+)`")
SEPARATORS = {";", "&&", "||", "|", "&", "(", ")"}


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                    reason='mkdocs is not installed: pip install -e ".[docs]" (the dev extra has it)')
def test_the_site_builds_in_strict_mode(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                             "-d", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def test_every_docs_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    missing = [p.name for p in DOCS[1:] if not re.search(rf":\s*{re.escape(p.name)}\s*$", nav, flags=re.M)]
    assert not missing, f"pages not listed in mkdocs.yml's nav: {missing}"


def _split(line: str) -> list[list[str]]:
    """A shell line as its simple commands, each a list of words (comments dropped)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def _pe_bench_args(words: list[str]) -> list[str] | None:
    """The arguments given to pe-bench in one simple command (`pe-bench ...`, `... -m pe_bench ...`), or None."""
    for i, word in enumerate(words):
        if word == "pe-bench" or (word == "pe_bench" and i > 0 and words[i - 1] == "-m"):
            return words[i + 1:]
    return None


def documented_commands() -> list[tuple[str, list[str], bool]]:
    """(where, arguments, from a bash block) for every pe-bench command in the README and docs/*.md."""
    found = []
    for path in DOCS:
        text = path.read_text()
        for block in BASH_BLOCK.findall(text):
            for line in block.replace("\\\n", " ").splitlines():
                for words in _split(line):
                    if (args := _pe_bench_args(words)) is not None:
                        found.append((f"{path.name}: {line.strip()}", args, True))
        prose = ANY_BLOCK.sub("", text)
        for span in INLINE.findall(prose):
            words = span.split()
            found.append((f"{path.name}: `{span}`", words[1:], False))
    return found


COMMANDS = documented_commands()


def _problem(args: list[str], parse: bool) -> str | None:
    """What is wrong with ``pe-bench <args>`` against the real CLI, or None."""
    if not args:
        return None
    if args[0].startswith("-"):
        root = {o for p in CLI.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
        return None if args[0] in root else f"no option {args[0]} on pe-bench itself"
    name, rest = args[0], args[1:]
    if name.isupper():  # a metavar (`pe-bench COMMAND --help`): any subcommand's options will do
        known = {o for c in CLI.commands.values() for p in c.params for o in (*p.opts, *p.secondary_opts)}
        unknown = [w for w in rest if w.startswith("--") and w.split("=", 1)[0] not in known | {"--help"}]
        return f"no subcommand has {unknown[0]}" if unknown else None
    if name not in CLI.commands:
        return f"no subcommand {name!r} (there are {', '.join(CLI.commands)})"
    command = CLI.commands[name]
    known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
    for word in rest:
        option = word.split("=", 1)[0]
        if option.startswith("--") and option not in known:
            return f"pe-bench {name} has no option {option}"
    if parse and "--help" not in rest:
        try:
            command.make_context(name, list(rest))
        except Exception as e:  # the CLI's own usage error: a missing value, a bad int, a missing argument
            message = e.format_message() if hasattr(e, "format_message") else str(e)
            return f"pe-bench {name} rejects it: {' '.join(message.split())}"
    return None


def test_the_docs_show_pe_bench_commands():
    assert sum(parsed for _, _, parsed in COMMANDS) >= 20, "the command scan found too few commands"
    assert {args[0] for _, args, _ in COMMANDS if args} >= {"run", "compare", "plot", "check", "list", "show"}


@pytest.mark.parametrize("where, args, parse", COMMANDS, ids=[w for w, _, _ in COMMANDS])
def test_every_documented_command_parses(where, args, parse):
    problem = _problem(args, parse)
    assert problem is None, f"{where}\n  {problem}"
