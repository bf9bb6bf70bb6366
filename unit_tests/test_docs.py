"""The README and the pages under docs/ link to files that exist: a page moved or renamed in a
redesign must not leave a user at a dead link."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(page: Path) -> list[str]:
    """The page's markdown links to files of the repository (web links and anchors left out)."""
    targets = [match.group(1) for match in LINK.finditer(page.read_text(encoding="utf-8"))]
    return [
        t.split("#")[0] for t in targets if "://" not in t and not t.startswith(("#", "mailto:"))
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    dead = [link for link in relative_links(page) if not (page.parent / link).exists()]
    assert not dead, f"{page.relative_to(ROOT)} links to missing files: {dead}"


def test_the_readme_links_one_page_per_way_in() -> None:
    links = set(relative_links(ROOT / "README.md"))
    for page in ("airbyte", "cloud-edition", "pyairbyte", "dlt", "meltano", "cli", "sandbox"):
        assert f"docs/{page}.md" in links
