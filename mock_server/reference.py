"""The mock's reference, written from the tables the code runs on (the CLI's flags, `faults.KINDS`
and `OPTIONS`, `admin.ADMIN_ROUTES`): the CLI's help epilog, and the generated sections of
docs/sandbox.md. `python -m mock_server.reference [--check] [PATH]` rewrites those sections
(or, with --check, exits 1 when they are stale), so the docs cannot drift from the code.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from mock_server.admin import ADMIN_PREFIX, ADMIN_ROUTES
from mock_server.faults import KINDS, OPTIONS

DOCS = Path("docs/sandbox.md")
_SECTION = re.compile(r"(<!-- generated: ([\w-]+) -->\n).*?(<!-- end: \2 -->)", re.DOTALL)


def fault_syntax() -> str:
    """The fault syntax as plain text, for `--help`."""
    kinds = "\n".join(f"  {k.syntax:<34} {k.answer}" for k in KINDS.values())
    options = "\n".join(f"  {n}={o.meaning}" for n, o in OPTIONS.items())
    text = f"WHAT[:OPTION=VALUE]...; WHAT is one of\n{kinds}\nOPTIONS (scopes combine):\n{options}"
    return text.replace("`", "")


def admin_summary() -> str:
    """The admin endpoints, one line each, for `--help`."""
    return "\n".join(f"  {r.method:<6} {ADMIN_PREFIX}{r.path}" for r in ADMIN_ROUTES)


def _rows(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "".join(
        "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |\n" for cells in lines
    )


def _flags() -> str:
    from mock_server.cli import build_parser  # the CLI imports this module for its epilog

    rows = []
    for action in build_parser()._actions:
        if action.option_strings and action.dest != "help":
            choices = "{" + ",".join(action.choices) + "}" if action.choices else ""
            metavar = (
                action.metavar or choices or (action.dest.upper() if action.nargs != 0 else "")
            )
            flag = " ".join([max(action.option_strings, key=len), str(metavar or "")]).strip()
            rows.append((f"`{flag}`", " ".join(str(action.help).split())))
    return _rows(("flag", "meaning"), rows)


SECTIONS = {
    "flags": _flags,
    "fault-kinds": lambda: _rows(
        ("WHAT", "response"), [(k.syntax, k.answer) for k in KINDS.values()]
    ),
    "fault-options": lambda: _rows(
        ("OPTION", "meaning"), [(f"`{n}=`", o.meaning) for n, o in OPTIONS.items()]
    ),
    "admin": lambda: _rows(
        ("request", "body", "answer"),
        [
            (f"`{r.method} {ADMIN_PREFIX}{r.path}`", r.request or "none", f"{r.status}: {r.answer}")
            for r in ADMIN_ROUTES
        ],
    ),
}
"""Each generated section of docs/sandbox.md, between `<!-- generated: NAME -->` and
`<!-- end: NAME -->`."""


def render(text: str) -> str:
    """`text` with every generated section written afresh."""
    return _SECTION.sub(lambda m: m.group(1) + SECTIONS[m.group(2)]() + m.group(3), text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mock_server.reference", description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=DOCS)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = args.path.read_text(encoding="utf-8")
    fresh = render(text)
    if args.check:
        if fresh != text:
            print(f"{args.path} is stale: run python -m mock_server.reference", file=sys.stderr)
        return int(fresh != text)
    args.path.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
