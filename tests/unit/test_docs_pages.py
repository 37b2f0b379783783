"""The documentation holds together: the README stays short, and every link between the pages (and
into the repository) names a file that exists and a heading that is there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.config import PROJECT_ROOT
from tests.docs_blocks import pages

README_LIMIT = 10 * 1024  # the README is a door to docs/, not the manual
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#+ (.+)$")


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings (code fences skipped)."""
    found, fenced = set(), False
    for line in page.read_text(encoding="utf-8").splitlines():
        fenced ^= line.startswith("```")
        heading = None if fenced else _HEADING.match(line)
        if heading:
            found.add(re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-"))
    return found


def test_the_readme_is_short():
    assert len((PROJECT_ROOT / "README.md").read_bytes()) < README_LIMIT


@pytest.mark.parametrize("page", pages(), ids=lambda page: page.name)
def test_every_link_of_the_page_leads_somewhere(page: Path):
    broken = []
    for target in _LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        headed = linked.suffix == ".md" and linked.exists()
        if not linked.exists() or (anchor and headed and anchor not in _anchors(linked)):
            broken.append(target)
    assert not broken, broken
