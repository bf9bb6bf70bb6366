"""`chatnode-contract` on the command line: flags in, a `CheckConfig`, the report out, an exit
code. `--help` prints the tables the code runs on, as docs/contract.md does (`tools/docs.py` writes it)."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence

import httpx
import orjson

from chatnode_contract.calls import CHECKED_OPERATIONS, CREDENTIALS, PROBES
from chatnode_contract.checker import API_KEY_ENV, DEFAULT_TIMEOUT, CheckConfig, redact, run_check
from chatnode_contract.report import (
    EXIT_CODES,
    JSON_SCHEMA,
    SCHEMA_VERSION,
    Kind,
    render_text,
    table,
    to_json,
)
from chatnode_spec import server_base_path, server_origin

DESCRIPTION = """\
Check a ChatNode account's API against the OpenAPI contract bundled with source-chatnode.

For each --bot it makes the calls listed below, in order, with your key; then the probes of the
documented errors (skip them with --no-probes). openapi-core judges every response (status,
content type, body); the report lists each finding per field over all leads or messages, with a
count and an example (index and id). Additive findings exit 0 unless --strict, breaking ones
exit 1. Values are never printed, except date-times; the API key is never printed.
docs/contract.md has the same reference, with examples of the report."""

EXAMPLES = """\
  export CHATNODE_API_KEY=...       # keeps the key out of shell history and `ps`
  chatnode-contract --bot BOT_ID
  chatnode-contract --bot BOT_A --bot BOT_B --json > contract.json
  chatnode-contract --bot BOT_ID --strict --timeout 60
  chatnode-contract --base-url http://127.0.0.1:8080/v1 --api-key mock-secret-key \\
      --bot bot-alpha               # against chatnode-mock-server
  python -m chatnode_contract --help"""


def reference_tables() -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, column names, rows) of the calls (each --bot's, then the probes), the finding kinds
    and the exit codes, as `--help` and docs/contract.md list them."""
    calls = [[c.title, "your key", str(c.expected_status), c.why] for c in CHECKED_OPERATIONS]
    for probe in PROBES:
        where = ", on the first --bot" if probe.bot == "first" else ""
        why = f"probe `{probe.name}`: {probe.description}{where}"
        calls.append(
            [probe.call.title, CREDENTIALS[probe.credentials], str(probe.expected_status), why]
        )
    kinds = [[kind.value, kind.severity.value, kind.meaning] for kind in Kind]
    return [
        ("What it calls", ["Call", "Credentials", "Expected", "Why"], calls),
        ("Finding kinds", ["Kind", "Severity", "Meaning"], kinds),
        ("Exit codes", ["Code", "When"], [[str(c), when] for c, when in EXIT_CODES.items()]),
    ]


def help_epilog() -> str:
    """The reference tables, the JSON document and examples, for `--help`. A row's last cell is
    wrapped beside its other cells, or below them when they are wide."""
    lines = []
    for title, header, rows in reference_tables():
        lines.append(f"{title.lower()} ({', '.join(header).lower()}):")
        for row, head in zip(rows, table(row[:-1] for row in rows), strict=True):
            beside = len(head) < 40
            indent = " " * (len(head) + 2 if beside else 6)
            if not beside:
                lines.append(head)
            first = head + "  " if beside else indent
            lines += textwrap.wrap(row[-1], 96, initial_indent=first, subsequent_indent=indent)
        lines.append("")
    lines += ["--json output:", textwrap.indent(JSON_SCHEMA, "  "), "", "examples:", EXAMPLES]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    base_url, timeout = server_origin() + server_base_path(), f"{DEFAULT_TIMEOUT:g}"
    parser = argparse.ArgumentParser(
        prog="chatnode-contract",
        description=DESCRIPTION,
        epilog=help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    # fmt: off
    add("--base-url", default=base_url, metavar="URL",
        help=f"the API's base URL, up to and including the version (default: {base_url})")
    add("--api-key", default=os.environ.get(API_KEY_ENV, ""), metavar="KEY",
        help=f"ChatNode API key, sent as a bearer token (default: ${API_KEY_ENV})")
    add("--bot", dest="bots", action="append", required=True, metavar="BOT",
        help="a bot (agent) id to read the leads and chats of; repeat for several bots")
    add("--json", action="store_true",
        help=f"print one JSON document (schema_version {SCHEMA_VERSION}) instead of the table, for CI")
    add("--strict", action="store_true", help="exit 1 on any drift, additive included")
    add("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
        help=f"seconds to wait on the network per step: connect, each read (default: {timeout})")
    add("--send-test-message", action="store_true",
        help="also check Send Message: send one test message per bot in a new conversation and "
        "look for it in Get Chat History. Writes a conversation into the live account and "
        "counts against its message quota (off by default)")
    add("--no-probes", dest="probes", action="store_false",
        help="skip the calls that check the documented 401 and 403 responses")
    # fmt: on
    return parser


def config_from_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> tuple[CheckConfig, bool]:
    """The run's config and whether to print JSON; usage errors exit 2 through argparse."""
    args = parser.parse_args(argv)
    if not args.api_key.strip():
        parser.error(f"no API key: pass --api-key KEY or set ${API_KEY_ENV}")
    if not args.timeout > 0:
        parser.error(f"--timeout {args.timeout:g}: wait more than 0 seconds")
    url = httpx.URL(args.base_url)
    if url.scheme not in ("http", "https") or not url.host:
        parser.error(
            f"--base-url {args.base_url!r} must be an http(s) URL, e.g. {parser.get_default('base_url')}"
        )
    bots = tuple(dict.fromkeys(args.bots))
    if bad := [b for b in bots if not b or "/" in b]:
        parser.error(f"--bot {bad[0]!r}: a bot id is non-empty and has no '/'")
    config = CheckConfig(args.base_url, args.api_key, bots, args.timeout, args.probes, args.strict,
                         args.send_test_message)  # fmt: skip
    return config, args.json


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: the report on stdout, a stopped check's reason on stderr."""
    config, as_json = config_from_args(build_parser(), argv)
    report = run_check(config)
    document = to_json(report)
    if as_json:
        output = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"
    else:
        output = render_text(document)
    sys.stdout.write(redact(output, config.api_key))
    if report.error is not None:
        sys.stderr.write(f"chatnode-contract: error: {report.error.message}\n")
    return report.exit_code
