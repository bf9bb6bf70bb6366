"""Writes the generated sections of docs/ from the tables the code runs on: the mock's flags,
faults and admin endpoints (docs/sandbox.md) and the checker's flags, calls, finding kinds, exit
codes and JSON document (docs/contract.md). `--help` prints the same tables, so neither the pages
nor the help can drift from the code. The one docs generator of the repository: the wheels carry
no docs/, so it lives here, not in the packages.

    python tools/docs.py          # rewrite every generated section
    python tools/docs.py --check  # exit 1 when a page is stale (a test does the same)

A section is the text between `<!-- generated: NAME -->` and `<!-- end: NAME -->`.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from chatnode_contract.cli import build_parser as contract_parser
from chatnode_contract.cli import reference_tables
from chatnode_contract.report import JSON_SCHEMA
from mock_server.admin import ADMIN_PREFIX, ADMIN_ROUTES, AdminRoute
from mock_server.cli import build_parser as mock_parser
from mock_server.faults import KINDS, OPTIONS

ROOT = Path(__file__).resolve().parent.parent
PAGES = (ROOT / "docs" / "sandbox.md", ROOT / "docs" / "contract.md")
SECTION = re.compile(r"(<!-- generated: ([\w-]+) -->\n).*?(<!-- end: \2 -->)", re.DOTALL)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "".join("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |\n" for cells in lines)  # fmt: skip


def flag_table(parser: argparse.ArgumentParser) -> str:
    """Every option of a parser but `--help`, as its usage writes it, and its help text."""
    rows = []
    for action in parser._actions:  # argparse keeps its options here and offers no other view
        if action.option_strings and action.dest != "help":
            choices = "{" + ",".join(action.choices) + "}" if action.choices else ""
            metavar = action.metavar or choices or (action.dest.upper() if action.nargs != 0 else "")  # fmt: skip
            flag = f"{', '.join(action.option_strings)} {metavar or ''}".strip()
            rows.append((f"`{flag}`", " ".join(str(action.help).split())))
    return markdown_table(("flag", "meaning"), rows)


def contract_reference() -> str:
    """The checker's flags, its `--help` tables and its JSON document, one heading each."""
    parts = ["### Flags\n\n" + flag_table(contract_parser())]
    for title, header, rows in reference_tables():
        coded = [[f"`{row[0]}`", *row[1:]] for row in rows]
        parts.append(f"### {title}\n\n" + markdown_table(header, coded))
    parts.append(f"### JSON output (`--json`)\n\n```text\n{JSON_SCHEMA}\n```\n")
    return "\n".join(parts)


def admin_row(route: AdminRoute) -> tuple[str, str, str]:
    request = f"`{route.method} {ADMIN_PREFIX}{route.path}`"
    return request, route.request or "none", f"{route.status}: {route.answer}"


SECTIONS: dict[str, Callable[[], str]] = {
    "flags": lambda: flag_table(mock_parser()),
    "fault-kinds": lambda: markdown_table(
        ("WHAT", "response"), [(k.syntax, k.answer) for k in KINDS.values()]
    ),
    "fault-options": lambda: markdown_table(
        ("OPTION", "meaning"), [(f"`{n}=`", o.meaning) for n, o in OPTIONS.items()]
    ),
    "admin": lambda: markdown_table(
        ("request", "body", "answer"), [admin_row(r) for r in ADMIN_ROUTES]
    ),
    "contract-reference": contract_reference,
}
"""Each generated section by the name its markers give it."""


def render(text: str) -> str:
    """`text` with every generated section written afresh; an unknown name is a KeyError."""
    return SECTION.sub(lambda m: m.group(1) + SECTIONS[m.group(2)]() + m.group(3), text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/docs.py", description=__doc__)
    parser.add_argument("pages", nargs="*", type=Path, default=PAGES)
    parser.add_argument("--check", action="store_true", help="exit 1 if a page is stale")
    args = parser.parse_args(argv)
    stale = []
    for page in args.pages:
        text = page.read_text(encoding="utf-8")
        fresh = render(text)
        if fresh != text and args.check:
            stale.append(str(page))
        elif fresh != text:
            page.write_text(fresh, encoding="utf-8")
    if stale:
        print(f"stale: {', '.join(stale)}; run python tools/docs.py", file=sys.stderr)
    return int(bool(stale))


if __name__ == "__main__":
    sys.exit(main())
