"""`make demo`: the connector's whole life cycle (`walkthrough.py`) against the mock ChatNode API
served in process on 127.0.0.1 (`MockServer`, seeded leads and conversations), then PyAirbyte into
DuckDB (`warehouse.py`). Nothing leaves the machine."""

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from demo.walkthrough import life_cycle
from demo.warehouse import load_and_summarise
from mock_server.config import MockConfig, parse_messages_per_session
from mock_server.server import MockServer
from source_chatnode.in_process import ConnectorError, drop_protocol_log_handler

DEMO_KEY = "demo-secret-key"
DEMO_BOTS = ("bot-sales", "bot-support")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Run source-chatnode end to end against a local mock ChatNode API (make demo): "
        "check, discover, a full refresh and two incremental reads of both streams (leads, chats), "
        "then PyAirbyte into DuckDB with a per-bot summary. Nothing leaves 127.0.0.1.",
        epilog="Between the two incremental reads, --chats end users per bot start a conversation "
        "through Send Message (POST /v1/{bot_id}) and a returning one follows up in each bot's "
        "oldest conversation; the second read must receive exactly the new leads and every "
        "message sent and answered (plus what sits on the saved cursors, the inclusive bound). "
        "The summary is SQL over the DuckDB cache: per bot, leads, leads that asked for an agent, "
        "messages, messages per lead, and messages by message.type (human, ai, other). Exits "
        "non-zero if a step fails.",
    )
    add = parser.add_argument
    add("--leads", type=int, default=250, metavar="N", help="leads per bot at start (default 250)")
    add(
        "--messages",
        default="1-6",
        metavar="N|MIN-MAX",
        help="chat messages per lead's conversation: exactly N, or a seeded number from MIN to "
        "MAX (default 1-6)",
    )
    add(
        "--chats",
        type=int,
        default=25,
        metavar="N",
        help="end users per bot who start a conversation through Send Message before the second "
        "incremental read (default 25)",
    )
    add("--seed", type=int, default=42, metavar="SEED", help="seed of the mock's data (default 42)")
    add("--keep", action="store_true", help="keep the work folder (the DuckDB cache)")
    args = parser.parse_args(argv)
    if args.leads < 1 or args.chats < 0:
        parser.error("--leads must be at least 1, --chats at least 0")
    try:  # the mock's own config checks --messages, so a bad value fails before anything starts
        args.mock = MockConfig(
            api_keys={DEMO_KEY: None},
            bots=DEMO_BOTS,
            leads_per_bot=args.leads,
            seed=args.seed,
            messages_per_session=parse_messages_per_session(args.messages),
        )
    except ValueError as exc:
        parser.error(f"argument --messages: {exc}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    drop_protocol_log_handler()  # the connector runs in process: its LOG lines are not output
    mock = MockServer(args.mock)
    workdir = Path(tempfile.mkdtemp(prefix="chatnode-demo-"))
    try:
        with mock:
            low, high = args.mock.messages_per_session
            print(
                f"mock ChatNode API at {mock.base_url} with bots {', '.join(DEMO_BOTS)}: "
                f"{args.leads} leads each, {low}-{high} messages per conversation\n"
            )
            config = {"api_key": DEMO_KEY, "bot_ids": list(DEMO_BOTS), "base_url": mock.base_url}
            life_cycle(config, args.chats)
            print("\nPyAirbyte -> DuckDB (cache in the work folder), leads and chats per bot:\n")
            print(load_and_summarise(config, workdir / "duckdb"))
        print("\nmock server stopped.")
    except (RuntimeError, ConnectorError) as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
