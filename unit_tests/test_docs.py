"""The README and the pages under docs/ link to files that exist: a page moved or renamed in a
redesign must not leave a user at a dead link."""

import re
from pathlib import Path

import pytest

from chatnode_contract.cli import build_parser as contract_parser
from chatnode_contract.report import JSON_SCHEMA, Kind
from tools import docs

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


@pytest.mark.parametrize("page", docs.PAGES, ids=lambda page: page.name)
def test_the_generated_sections_are_what_the_code_tables_make_now(page: Path) -> None:
    """Each page names only sections the generator knows, and holds what it writes today."""
    text = page.read_text(encoding="utf-8")
    assert set(re.findall(r"<!-- generated: ([\w-]+) -->", text)) <= set(docs.SECTIONS)
    assert docs.render(text) == text, f"{page.name} is stale: run python tools/docs.py"


def test_every_generated_section_is_on_a_page() -> None:
    names = {m[2] for p in docs.PAGES for m in docs.SECTION.finditer(p.read_text("utf-8"))}
    assert names == set(docs.SECTIONS)


def test_the_check_fails_on_a_stale_page_and_a_rewrite_keeps_what_is_around(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "intro\n<!-- generated: fault-kinds -->\nold\n<!-- end: fault-kinds -->\noutro\n"
    )
    assert docs.main(["--check", str(page)]) == 1
    assert docs.main([str(page)]) == 0 and docs.main(["--check", str(page)]) == 0
    fresh = page.read_text()
    assert fresh.startswith("intro\n") and fresh.endswith("outro\n") and "| `drop` |" in fresh


def test_the_checker_reference_lists_every_flag_kind_and_the_json_document() -> None:
    block = docs.contract_reference()
    for action in contract_parser()._actions:
        assert action.dest == "help" or all(o in block for o in action.option_strings)
    for kind in Kind:
        assert f"| `{kind.value}` | {kind.severity.value} | {kind.meaning} |" in block
    assert JSON_SCHEMA in block
