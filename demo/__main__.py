"""`make demo`: the connector's whole life cycle against a local mock ChatNode API.

Starts `chatnode-mock-server` on 127.0.0.1 with seeded leads and conversations, runs
`source-chatnode` check, discover, a full refresh and an incremental read of both streams (leads,
chats) that carries its state over end users chatting through Send Message (new conversations,
and a follow-up in an old one), then
loads everything into DuckDB through PyAirbyte and prints a summary. Nothing leaves the machine.
"""

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from demo.mock import MockData, mock_server
from demo.walkthrough import cli_walkthrough
from demo.warehouse import SUMMARY_HEADERS, load_and_summarise
from mock_server.config import parse_messages_per_session
from mock_server.data import Conversations

DEMO_KEY = "demo-secret-key"
DEMO_BOTS = ("bot-sales", "bot-support")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Left-aligned columns, as wide as their widest cell."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [max(len(header), *(len(row[i]) for row in cells)) for i, header in enumerate(headers)]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    print(line.format(*headers).rstrip())
    print(line.format(*("-" * width for width in widths)))
    for row in cells:
        print(line.format(*row).rstrip())


def messages_per_session(text: str) -> tuple[int, int]:
    """`--messages`, checked here as the mock would check it, so a bad value fails before start."""
    try:
        return Conversations(per_session=parse_messages_per_session(text)).per_session
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def count(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum, {minimum}")
        return value

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Run source-chatnode end to end against a local mock ChatNode API (make demo): "
        "check, discover, a full refresh and two incremental reads of both streams (leads, chats), "
        "then PyAirbyte into DuckDB with a per-bot summary. Nothing leaves 127.0.0.1.",
        epilog="Between the two incremental reads, --chats end users per bot start a conversation "
        "through Send Message (POST /v1/{bot_id}) and a returning one follows up in each bot's "
        "oldest conversation; the second read must receive exactly the new leads and every "
        "message sent and answered (plus what sits on the saved cursors, the inclusive bound). The summary is SQL over the DuckDB cache: per bot, "
        "leads, leads that asked for an agent, messages, messages per lead, and messages by "
        "message.type (human, ai, other). Exits non-zero if a step fails.",
    )
    parser.add_argument(
        "--leads",
        type=count(1),
        default=250,
        metavar="N",
        help="leads per bot at start (default 250)",
    )
    parser.add_argument(
        "--messages",
        type=messages_per_session,
        default=(1, 6),
        metavar="N|MIN-MAX",
        help="chat messages per lead's conversation: exactly N, or a seeded number from MIN to "
        "MAX (default 1-6)",
    )
    parser.add_argument(
        "--chats",
        type=count(0),
        default=25,
        metavar="N",
        help="end users per bot who start a conversation through Send Message before the second "
        "incremental read (default 25)",
    )
    parser.add_argument(
        "--seed", type=int, default=42, metavar="SEED", help="seed of the mock's data (default 42)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work folder (config, catalog, state, DuckDB)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data = MockData(DEMO_KEY, DEMO_BOTS, args.leads, args.messages, args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="chatnode-demo-"))
    try:
        with mock_server(data) as base_url:
            low, high = args.messages
            print(
                f"mock ChatNode API at {base_url} with bots {', '.join(DEMO_BOTS)}: "
                f"{args.leads} leads each, {low}-{high} messages per conversation\n"
            )
            config = {"api_key": DEMO_KEY, "bot_ids": list(DEMO_BOTS), "base_url": base_url}
            steps = cli_walkthrough(config, workdir, args.chats)
            print_table(("step", "result"), [(step.name, step.result) for step in steps])
            print("\nPyAirbyte -> DuckDB (cache in the work folder), leads and chats per bot:\n")
            print_table(SUMMARY_HEADERS, load_and_summarise(config, workdir / "duckdb"))
        print("\nmock server stopped.")
    except RuntimeError as exc:
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
