"""docs/contract.md's reference block is what the code's tables make now, and `--help` says the
same: neither can drift from the checker they describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatnode_contract import reference
from chatnode_contract.cli import build_parser
from chatnode_contract.report import JSON_SCHEMA, Kind
from unit_tests.chatnode_contract.runs import REPO_ROOT

PAGE = REPO_ROOT / "docs" / "contract.md"


def test_the_committed_reference_is_what_the_tables_make_now() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert reference.updated(page) == page, (
        "docs/contract.md is stale: run `uv run python -m chatnode_contract.reference "
        "docs/contract.md`"
    )


def test_the_reference_lists_every_flag_kind_and_the_json_document() -> None:
    block = reference.markdown()
    for action in build_parser()._actions:
        assert all(option in block for option in action.option_strings)
    for kind in Kind:
        assert f"| `{kind.value}` | {kind.severity.value} | {kind.meaning} |" in block
    assert JSON_SCHEMA in block


def test_rewriting_a_stale_page_keeps_what_is_around_the_block(tmp_path: Path) -> None:
    stale = tmp_path / "contract.md"
    stale.write_text(f"intro\n{reference.BEGIN}\nold table\n{reference.END}\noutro\n")
    assert reference.main([str(stale)]) == 0
    assert stale.read_text() == f"intro\n{reference.markdown()}\noutro\n"


def test_a_page_without_the_block_is_refused() -> None:
    with pytest.raises(ValueError, match="no generated block"):
        reference.updated("# a page\n")
