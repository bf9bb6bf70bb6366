"""`chatnode-contract` on the command line: flags in, a `CheckConfig`, the report out, an exit code.

Checks a ChatNode account's API against the bundled OpenAPI spec (see `--help`); the calls and
judging live in `checker.py`, the JSON schema and exit-code rule in `report.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import httpx
import orjson

from chatnode_contract.calls import CHATS_SESSIONS_PER_CHECK, CHECKED_OPERATIONS, TEST_MESSAGE
from chatnode_contract.checker import run_check
from chatnode_contract.config import API_KEY_ENV, DEFAULT_TIMEOUT, CheckConfig, redact
from chatnode_contract.report import render_text, to_json
from chatnode_spec import api_document


def spec_server_url() -> str:
    """The spec's server URL, `https://api.public.chatnode.ai/v1`: the default --base-url."""
    return api_document()["servers"][0]["url"]


_DESCRIPTION = f"""\
Check a ChatNode account's API against the OpenAPI contract bundled with source-chatnode.

For each --bot it calls, with your key:
  1. `POST {{base_url}}/get-conversation-ids/{{bot}}`: the bot's leads;
  2. `POST {{base_url}}/get-chats/{{bot}}` with the session ids of the first {CHATS_SESSIONS_PER_CHECK} of those leads
     (a JSON array): their chat messages. A bot without leads is skipped here, with a note: the
     check never sends an empty array, which would ask for recent chats instead.
It checks each response with openapi-core (status, content type, body), then reports drift per
field, over all leads or messages: unknown fields, nulls where the spec has no `nullable`, type
mismatches, missing required fields, timestamp forms of `date-time` fields (fraction digits; Z,
+00:00 or other offsets; unparseable) and undocumented status codes, each with a count and an
example (index and id: a lead's session_id, a message's id). Lead and message values are never
printed, except date-times. The API key is never printed. In the text report a bot's leads are
`Bot BOT: ...` and its chats `Bot BOT chats: ...`.

  3. `GET {{base_url}}/auth_me`: Authenticate Me, read-only. ChatNode publishes no schema for it:
     the bundled one (the key's team: id, name, slug) is ASSUMED, so what this call reports is
     what the live endpoint really answers.
With --send-test-message, also:
  4. `POST {{base_url}}/{{bot}}` (Send Message) with {{"message": "{TEST_MESSAGE}"}}: a new
     conversation. THIS WRITES INTO THE LIVE ACCOUNT: the bot's dashboard and Get Leads may show
     the conversation, and it counts against the account's message quota;
  5. `POST {{base_url}}/get-chats/{{bot}}` with that session: the test message and the reply must
     be in its history (missing_sent_message otherwise), drift reported on every field seen.

It then probes the documented error responses: no bearer token and a made-up token on the first
bot (expect 401), and your key on a random bot id that cannot exist (expect 403); skip them with
--no-probes.
"""

_EPILOG = f"""\
severity:
  additive  a client written against the spec keeps working: fields the spec does not list;
            created_at values that are valid RFC 3339 but written differently from the spec's
            example (another number of fraction digits, `Z` or a non-UTC offset)
  breaking  a client written against the spec may fail: missing required field, null where the
            spec has no `nullable: true`, wrong JSON type, a date-time that is not RFC 3339, an
            undocumented or unexpected status, another content type, a body that is not JSON
            or not an array of objects, anything else openapi-core rejects

exit codes:
  0  conforms, or only additive drift (printed as warnings)
  1  breaking drift; with --strict, any drift
  2  could not check: bad arguments, connection refused, timeout, key rejected (401) or a bot
     not accessible (403) on the real calls

--json output (schema_version 1; keys are only ever added):
  {{"schema_version", "base_url", "strict", "conforms", "breaking", "exit_code",
   "error": null | {{"kind", "message"}},
   "bots": [{{"bot", "status", "leads_checked", "order", "timestamp_forms",
             "breaking_findings", "additive_findings",
             "operations": [{{"operation": "leads" | "chats" | "auth" | "send" | "sent", "call", "status", "skipped",
                             "item", "items_checked", "order", "timestamp_forms",
                             "breaking_findings", "additive_findings"}}]}}],
   "probes": [...],
   "findings": [{{"bot", "probe", "operation", "field", "kind", "severity", "count", "detail",
                 "example": {{"index", "id", "value"}}}}]}}
  a bot's status, leads_checked, order and timestamp_forms are those of its leads call; its
  finding counts add up all its calls. Field by field in README.md, "Contract testing your
  ChatNode account"

examples:
  export {API_KEY_ENV}=...          # keeps the key out of shell history and `ps`
  chatnode-contract --bot BOT_ID
  chatnode-contract --bot BOT_A --bot BOT_B --json > contract.json
  chatnode-contract --bot BOT_ID --strict --timeout 60
  chatnode-contract --base-url http://127.0.0.1:8080/v1 --api-key mock-secret-key \\
      --bot bot-alpha                 # against chatnode-mock-server
  python -m chatnode_contract --help
"""


def build_parser() -> argparse.ArgumentParser:
    default_base_url = spec_server_url()
    parser = argparse.ArgumentParser(
        prog="chatnode-contract",
        description=_DESCRIPTION,
        epilog=_EPILOG,
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
        help="print one JSON document (schema_version 1) instead of the table, for CI",
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
    if as_json:
        output = orjson.dumps(to_json(report), option=orjson.OPT_INDENT_2).decode() + "\n"
    else:
        output = render_text(report, ", ".join(call.title for call in CHECKED_OPERATIONS))
    sys.stdout.write(redact(output, config.api_key))
    if report.error is not None:
        sys.stderr.write(f"chatnode-contract: error: {report.error.message}\n")
    return report.exit_code
