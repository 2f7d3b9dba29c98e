"""The documentation: the README stays a guide people read, and no link in it or in docs/ is broken.

Relative Markdown links (``[text](path)``, ``[text](path#anchor)``, ``[text](#anchor)``) in README.md,
data/README.md and every ``docs/**/*.md`` must name an existing file and, for a Markdown target, a
heading that exists in it (anchors as GitHub makes them from the heading's text).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 350

_FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


def _documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "data" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _prose(text: str) -> str:
    """The text without fenced code blocks and HTML comments (links there are not links)."""
    return _COMMENT.sub("", _FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: its rendered text, lower case, punctuation dropped, spaces to hyphens."""
    spans: list[str] = []
    text = _CODE_SPAN.sub(lambda m: spans.append(m.group(2)) or f"\0{len(spans) - 1}\0", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text
    text = re.sub(r"(\*\*|\*)(?=\S)(.+?)(?<=\S)\1", r"\2", text)  # emphasis with asterisks
    text = re.sub(r"(?<!\w)(__|_)(?=\S)(.+?)(?<=\S)\1(?!\w)", r"\2", text)  # with underscores, not intraword
    text = re.sub("\0(\\d+)\0", lambda m: spans[int(m.group(1))], text)  # code spans as they are
    text = text.strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file (repeated headings get -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    out = set()
    for match in _HEADING.finditer(_prose(path.read_text(encoding="utf-8"))):
        slug = _slug(match.group(2))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def links(path: Path) -> list[str]:
    """The relative link targets of a Markdown file (web and mail addresses left out)."""
    text = _CODE_SPAN.sub("", _prose(path.read_text(encoding="utf-8")))
    return [t for t in _LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in links(path):
        file_part, _, anchor = target.partition("#")
        dest = path if not file_part else (path.parent / file_part).resolve()
        if not dest.exists():
            problems.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            shown = dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest.name
            problems.append(f"{target}: no heading with anchor #{anchor} in {shown}")
    return problems


def test_the_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; the guide stays within {README_MAX_LINES}"


def test_the_readme_keeps_the_lines_ci_runs():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    tagged = {tag: [line for line in text.splitlines() if not line.startswith("#") and line.endswith(f"# {tag}")]
              for tag in ("install", "tests")}
    assert tagged["install"] and tagged["tests"], "README.md: .ci/run needs a '# install' and a '# tests' line"


@pytest.mark.parametrize("path", _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    assert broken_links(path) == []


def test_the_link_checker_sees_broken_links(tmp_path):
    doc = tmp_path / "a.md"
    (tmp_path / "b.md").write_text("# Title\n\n## A `code` heading, with (punctuation)\n\n```\n# not a heading\n```\n")
    doc.write_text("# Here\n\n[ok](b.md#a-code-heading-with-punctuation) [ok](#here) [web](https://example.com)\n"
                   "[bad](b.md#not-a-heading) [gone](c.md) [bad](#nowhere) `[code](c.md)`\n")
    assert broken_links(doc) == ["b.md#not-a-heading: no heading with anchor #not-a-heading in b.md",
                                 "c.md: no such file", "#nowhere: no heading with anchor #nowhere in a.md"]
