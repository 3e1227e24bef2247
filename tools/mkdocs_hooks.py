"""MkDocs hook: let docs/*.md link to the repository's own figures and examples.

The pages link to ``../results/.../plots/*.png`` and ``../examples/*.py`` so the links also
work when a page is read on GitHub. MkDocs only knows files under ``docs/``, so this hook adds
those repository files to the site under ``repo/`` (``repo/results/...``, ``repo/examples/...``)
and points the pages' ``../`` links there. A link to a file that does not exist is still not found, and
``mkdocs build --strict`` fails on it.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
PATTERNS = ("results/**/plots/*.png", "examples/*.py")
LINK_UP = re.compile(r"\]\(\.\./((?:results|examples)/)")


def on_files(files, config):
    for pattern in PATTERNS:
        for path in sorted(ROOT.glob(pattern)):
            files.append(File.generated(config, f"repo/{path.relative_to(ROOT).as_posix()}", abs_src_path=str(path)))
    return files


def on_page_markdown(markdown, page, config, files):
    depth = page.file.src_uri.count("/")  # every page sits at the top of docs/: depth 0
    return LINK_UP.sub(lambda m: "](" + "../" * depth + "repo/" + m.group(1), markdown)
