"""`chatnode-mock-server`: run the mock ChatNode API from a shell. Builds a MockConfig from the
flags and serves the same app as the Python API and the pytest fixture."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence

from mock_server.admin import ADMIN_PREFIX, ADMIN_ROUTES
from mock_server.config import ADMIN_TOKEN_ENV, DEFAULT_API_KEY, MockConfig, parse_api_keys
from mock_server.faults import KINDS, OPTIONS, parse_fault
from mock_server.server import MockServer


def fault_syntax() -> str:
    """The fault syntax from the tables the parser reads (docs/sandbox.md renders them too)."""
    kinds = "\n".join(f"  {k.syntax:<34} {k.answer}" for k in KINDS.values())
    options = "\n".join(f"  {n}={o.meaning}" for n, o in OPTIONS.items())
    text = f"WHAT[:OPTION=VALUE]...; WHAT is one of\n{kinds}\nOPTIONS (scopes combine):\n{options}"
    return text.replace("`", "")


ADMIN_SUMMARY = "\n".join(f"  {r.method:<6} {ADMIN_PREFIX}{r.path}" for r in ADMIN_ROUTES)

EPILOG = f"""\
fault syntax (--fault, repeatable; the first matching rule decides a request):
{fault_syntax()}

admin API (JSON; with an admin token every call needs `Authorization: Bearer TOKEN`):
{ADMIN_SUMMARY}

examples:
  chatnode-mock-server --port 8080
  chatnode-mock-server --port 0 --leads 1000000 --bot big-bot
  chatnode-mock-server --api-key secret --api-key partner:bot-alpha --bot bot-alpha --bot bot-beta
  chatnode-mock-server --quirks --seed 42
  chatnode-mock-server --fault 429:retry_after=2:times=3 --fault 503:p=0.2:seed=7
  chatnode-mock-server --fault drop:bot=bot-beta --fault latency=1.5
  chatnode-mock-server --leads 10000 --messages 100 --fault 500:route=chats:times=1
  {ADMIN_TOKEN_ENV}=s3cret chatnode-mock-server --host 0.0.0.0 --port 8080

On start it prints one line, `ChatNode mock server listening on http://HOST:PORT/v1`. Binding
to anything but loopback (127.0.0.0/8, ::1, localhost) without an admin token is refused (exit 2).
Ctrl-C or SIGTERM stops it. What each endpoint serves and takes: docs/sandbox.md.
"""


def build_parser() -> argparse.ArgumentParser:
    """The flags, each named after the `MockConfig` field it sets (`dest`). A flag left out is
    left out of the namespace too, so MockConfig's own defaults, which the help cites, apply."""
    defaults = MockConfig()
    parser = argparse.ArgumentParser(
        prog="chatnode-mock-server",
        description="A spec-driven mock of the ChatNode API, a sandbox for its clients: leads "
        "(POST /v1/get-conversation-ids/{bot_id}), chat history (POST /v1/get-chats/{bot_id}), "
        "send message (POST /v1/{bot_id}) and authenticate me (GET /v1/auth_me), with seeded "
        "data, state that flows from one endpoint to the next, and fault injection.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    add, (low, high) = parser.add_argument, defaults.messages_per_session
    # fmt: off
    add("--host", help=f"address to bind (default {defaults.host})")
    add("--port", type=int, help=f"port to bind; 0 picks a free one (default {defaults.port})")
    add("--api-key", dest="api_keys", action="append", metavar="KEY[:BOT,...]",
        help=f"accepted bearer key, repeatable; KEY:bot1,bot2 limits it to those bots (default {DEFAULT_API_KEY!r})")
    add("--bot", dest="bots", action="append", metavar="BOT_ID",
        help=f"a bot to serve, repeatable (default {' '.join(defaults.bots)})")
    add("--leads", dest="leads_per_bot", type=int, metavar="N", help=f"leads per bot (default {defaults.leads_per_bot})")
    add("--messages", dest="messages_per_session", metavar="N|MIN-MAX",
        help=f"chat messages per lead's session: exactly N, or a seeded number from MIN to MAX (default {low}-{high})")
    add("--seed", type=int, help=f"data seed (default {defaults.seed})")
    add("--quirks", action="store_true",
        help="serve leads and chats as a sloppy real API might: 0-6 fraction digits, Z or other offsets, nulls, "
        "unknown fields, slightly out of order, now and then a message type other than human/ai (not spec-conforming)")
    add("--fault", dest="faults", action="append", metavar="SPEC",
        help="a fault rule, repeatable (syntax below)")
    add("--allow-request-body", action="store_true",
        help="ignore request bodies instead of answering 400 unexpected_body")
    add("--allow-unknown-fields", action="store_true",
        help="ignore request body fields the spec does not declare instead of answering 400 unknown_field")
    add("--no-list-sent-sessions", dest="list_sent_sessions", action="store_false",
        help="keep sessions that Send Message starts out of Get Leads (by default they are listed, without "
        "contact fields; ChatNode does not publish which it does)")
    add("--validate-responses", action="store_true",
        help="check each documented response against the spec before sending it (slow)")
    add("--admin-token", metavar="TOKEN", default=os.environ.get(ADMIN_TOKEN_ENV) or None,
        help="lock the /_admin/ API: every call needs `Authorization: Bearer TOKEN`; required with a "
        f"non-loopback --host (default: ${ADMIN_TOKEN_ENV}, which keeps it out of `ps`; unset: admin open, loopback only)")
    add("--log-level", choices=["critical", "error", "warning", "info", "debug", "trace"],
        help=f"uvicorn log level (default {defaults.log_level})")
    # fmt: on
    return parser


def config_from_args(args: argparse.Namespace) -> MockConfig:
    """The MockConfig the flags describe; ValueError with a readable message on a bad flag."""
    given = dict(vars(args))  # a copy: the caller's namespace keeps what was typed
    if "api_keys" in given:
        given["api_keys"] = parse_api_keys(given["api_keys"])
    if "faults" in given:
        given["faults"] = [parse_fault(text) for text in given["faults"]]
    return MockConfig(**given)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    try:
        server = MockServer(config).start()
    except OSError as exc:
        print(f"chatnode-mock-server: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)  # fmt: skip
        return 1
    try:
        print(f"ChatNode mock server listening on {server.base_url}", flush=True)
        stopped.wait()  # until SIGTERM; Ctrl-C interrupts it with KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
