"""`chatnode-contract` on the command line: flags in, a `CheckConfig`, the report out, an exit
code. Its `--help` is drawn from the code's tables by `reference.py`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import httpx
import orjson

from chatnode_contract.checker import API_KEY_ENV, DEFAULT_TIMEOUT, CheckConfig, redact, run_check
from chatnode_contract.reference import help_calls, help_epilog
from chatnode_contract.report import SCHEMA_VERSION, render_text, to_json
from chatnode_spec import api_document


def spec_server_url() -> str:
    """The spec's server URL, `https://api.public.chatnode.ai/v1`: the default --base-url."""
    return api_document()["servers"][0]["url"]


_DESCRIPTION = """\
Check a ChatNode account's API against the OpenAPI contract bundled with source-chatnode.

openapi-core judges every response (status, content type, body); the report lists each finding
per field over all leads or messages, with a count and an example (index and id). Values are
never printed, except date-times; the API key is never printed. docs/contract.md has the same
reference, with examples of the report.

"""


def build_parser() -> argparse.ArgumentParser:
    default_base_url = spec_server_url()
    parser = argparse.ArgumentParser(
        prog="chatnode-contract",
        description=_DESCRIPTION + help_calls(),
        epilog=help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--base-url",
        default=default_base_url,
        metavar="URL",
        help=f"the API's base URL, up to and including the version (default: {default_base_url})",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"ChatNode API key, sent as a bearer token (default: ${API_KEY_ENV})",
    )
    parser.add_argument(
        "--bot",
        dest="bots",
        action="append",
        required=True,
        metavar="BOT",
        help="a bot (agent) id to read the leads and chats of; repeat for several bots",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help=f"print one JSON document (schema_version {SCHEMA_VERSION}) instead of the table, for CI",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 on any drift, additive included"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds to wait on the network per step: connect, each read (default: {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--send-test-message",
        action="store_true",
        help="also check Send Message: send one test message per bot in a new conversation and "
        "look for it in Get Chat History. Writes a conversation into the live account and "
        "counts against its message quota (off by default)",
    )
    parser.add_argument(
        "--no-probes",
        dest="probes",
        action="store_false",
        help="skip the calls that check the documented 401 and 403 responses",
    )
    return parser


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the timeout must be more than 0 seconds")
    return value


def config_from_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> tuple[CheckConfig, bool]:
    """The run's config and whether to print JSON; usage errors exit 2 through argparse."""
    args = parser.parse_args(argv)
    api_key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV, "")
    if not api_key.strip():
        parser.error(f"no API key: pass --api-key KEY or set ${API_KEY_ENV}")
    url = httpx.URL(args.base_url)
    if url.scheme not in ("http", "https") or not url.host:
        parser.error(
            f"--base-url {args.base_url!r} must be an http(s) URL, e.g. {spec_server_url()}"
        )
    bots = tuple(dict.fromkeys(args.bots))
    bad = [b for b in bots if not b or "/" in b]
    if bad:
        parser.error(f"--bot {bad[0]!r}: a bot id is non-empty and has no '/'")
    config = CheckConfig(
        args.base_url,
        api_key,
        bots,
        args.timeout,
        args.probes,
        args.strict,
        args.send_test_message,
    )
    return config, args.json


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: the report on stdout, a stopped check's reason on stderr."""
    parser = build_parser()
    config, as_json = config_from_args(parser, argv)
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
