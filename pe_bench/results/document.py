"""The report as a list of sections, written twice: summary.md (Markdown) and summary.html.

summary.py decides what the report says (``Section``: a heading, paragraphs, tables,
figures, links); this module only writes it down. The HTML page is self-contained — figures
embedded as data URIs, inline CSS and a few lines of inline JavaScript that sort a table by a
clicked column — so it opens anywhere, offline, and can be mailed as one file.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

#: one table: its caption (may be empty), column titles and rows of cells
TableData = tuple[str, list[str], list[list[str]]]


@dataclass
class Section:
    """One part of the report; the first section's heading is the page's title."""

    heading: str
    paragraphs: list[str] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    tables: list[TableData] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)  # image files, relative to the report's folder
    links: list[str] = field(default_factory=list)  # file names beside the report
    preformatted: str = ""


def _md_table(titles: list[str], cells: list[list[str]]) -> str:
    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    return "\n".join([line(titles), "|" + "---|" * len(titles), *(line(row) for row in cells)])


def to_markdown(sections: list[Section]) -> str:
    """summary.md: the first heading as ``#``, the others as ``##``; tables as GitHub Markdown."""
    blocks: list[str] = []
    for i, section in enumerate(sections):
        blocks.append(("# " if i == 0 else "## ") + section.heading)
        blocks += section.paragraphs
        if section.bullets:
            blocks.append("\n".join(f"- {line}" for line in section.bullets))
        for caption, titles, cells in section.tables:
            blocks.append((f"**{caption}**\n\n" if caption else "") + _md_table(titles, cells))
        blocks += [f"![{f.stem}]({f.as_posix()})" for f in section.figures]
        if section.links:
            blocks.append("\n".join(f"- [{name}]({name})" for name in section.links))
        if section.preformatted:
            blocks.append(f"```\n{section.preformatted}\n```")
    return "\n\n".join(blocks) + "\n"


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em}
th{background:#f0f0f0;cursor:pointer;position:sticky;top:0}tr:nth-child(even){background:#fafafa}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}nav a{margin-right:1em}caption{font-weight:bold;text-align:left}
pre{background:#f6f6f6;padding:1em;overflow:auto}"""

#: sort a table by the clicked column: numbers (the first number in a cell) numerically, else as text
_SCRIPT = """document.querySelectorAll('th').forEach(function(th){th.addEventListener('click',function(){
var t=th.closest('table'),i=Array.prototype.indexOf.call(th.parentNode.children,th),b=t.tBodies[0],
d=th.dataset.d==='a'?'d':'a';th.dataset.d=d;var k=function(r){var s=r.children[i].textContent,
m=s.match(/-?\\d+(\\.\\d+)?(e[-+]?\\d+)?/i);return m?parseFloat(m[0]):s};
Array.prototype.slice.call(b.rows).sort(function(x,y){var p=k(x),q=k(y);var c=(typeof p===typeof q)?
(p<q?-1:p>q?1:0):(typeof p==='number'?-1:1);return d==='a'?c:-c}).forEach(function(r){b.appendChild(r)})})});"""


def _anchor(heading: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in heading.lower()).strip("-")


def _html_table(caption: str, titles: list[str], cells: list[list[str]]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(t)}</th>" for t in titles)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in cells)
    return (f"<table>{f'<caption>{e(caption)}</caption>' if caption else ''}<thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _data_uri(path: Path) -> str:
    kind = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def to_html(sections: list[Section], folder: Path) -> str:
    """summary.html: every section with its anchor, a table of contents, figures embedded from ``folder``."""
    e = html.escape
    nav = " ".join(f'<a href="#{_anchor(s.heading)}">{e(s.heading)}</a>' for s in sections[1:])
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(sections[0].heading)}"
             f"</title><style>{_STYLE}</style></head><body><nav>{nav}</nav>"]
    for i, section in enumerate(sections):
        tag = "h1" if i == 0 else "h2"
        parts.append(f'<{tag} id="{_anchor(section.heading)}">{e(section.heading)}</{tag}>')
        parts += [f"<p>{e(p)}</p>" for p in section.paragraphs]
        if section.bullets:
            parts.append("<ul>" + "".join(f"<li>{e(b)}</li>" for b in section.bullets) + "</ul>")
        parts += [_html_table(*table) for table in section.tables]
        parts += [f'<figure><img alt="{e(f.stem)}" src="{_data_uri(folder / f)}"><figcaption>{e(f.stem)}'
                  "</figcaption></figure>" for f in section.figures if (folder / f).is_file()]
        if section.links:
            parts.append("<ul>" + "".join(f'<li><a href="{e(n)}">{e(n)}</a></li>' for n in section.links) + "</ul>")
        if section.preformatted:
            parts.append(f"<pre>{e(section.preformatted)}</pre>")
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"
