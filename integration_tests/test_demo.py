"""`make demo` end to end: the mock server, the connector's life cycle, and PyAirbyte into DuckDB.

The demo runs once, as `make demo` runs it but on a small seed; every number it prints is checked
against the mock's own data for that seed, rebuilt in process through the `MockServer` Python API
(same bots, seed and sizes; the same end users sending the same messages in the same order
through the store's Send Message, so even the replies and their dates match).

The command line's own answers (help, a refused flag) come from `demo.__main__.main` in process:
a process there would only add the seconds it takes to import the demo's dependencies.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from demo.__main__ import DEMO_BOTS, DEMO_KEY, main
from demo.end_users import FOLLOW_UP, question_of
from mock_server.config import MockConfig
from mock_server.data import parse_ms
from mock_server.server import MockServer

LEADS, CHATS, SEED, MESSAGES = 30, 4, 3, (1, 4)


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "demo", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def demo_output() -> str:
    low, high = MESSAGES
    process = run_demo(
        "--leads", str(LEADS), "--chats", str(CHATS), "--seed", str(SEED),
        "--messages", f"{low}-{high}",
    )  # fmt: skip
    assert process.returncode == 0, process.stderr[-3000:]
    return process.stdout


def messages_of(server: MockServer, bot: str) -> list[dict[str, Any]]:
    """Every message of every session of the bot's leads, as the chats API serves them now."""
    return server.chats(bot, [lead["session_id"] for lead in server.leads(bot)])


def at_or_after(items: list[dict[str, Any]], cursor_ms: int) -> list[dict[str, Any]]:
    """What an incremental read from a saved cursor receives: its window includes the cursor."""
    return [item for item in items if parse_ms(item["created_at"]) >= cursor_ms]


def latest_ms(items: list[dict[str, Any]]) -> int:
    return max(parse_ms(item["created_at"]) for item in items)


@dataclass
class BotTruth:
    """One bot's data in the mock, before and after the demo changed it."""

    leads_before: list[dict[str, Any]]
    messages_before: list[dict[str, Any]]
    new_sessions: set[str]
    follow_up: list[dict[str, Any]]
    """The returning end user's question and the bot's answer, as Get Chat History serves them."""
    leads_after: list[dict[str, Any]]
    messages_after: list[dict[str, Any]]


def bot_truth(server: MockServer, bot: str) -> BotTruth:
    """One bot through the demo's changes, in the demo's order: new end users, then a follow-up
    in the oldest conversation (bots are independent in the mock, so one bot at a time is the
    same)."""
    leads, messages = server.leads(bot), messages_of(server, bot)
    oldest = min(leads, key=lambda lead: (parse_ms(lead["created_at"]), lead["session_id"]))
    new_sessions = {server.send_message(bot, question_of(u)).session_id for u in range(CHATS)}
    turn = server.send_message(bot, FOLLOW_UP, oldest["session_id"])
    follow_up = [turn.question, turn.answer]
    return BotTruth(
        leads, messages, new_sessions, follow_up, server.leads(bot), messages_of(server, bot)
    )


@pytest.fixture(scope="module")
def truth() -> dict[str, BotTruth]:
    config = MockConfig(
        api_keys={DEMO_KEY: None},
        bots=DEMO_BOTS,
        leads_per_bot=LEADS,
        seed=SEED,
        messages_per_session=MESSAGES,
    )
    server = MockServer(config)  # never started: its data is all the test needs
    return {bot: bot_truth(server, bot) for bot in DEMO_BOTS}


def result_of(output: str, step: str) -> list[str]:
    """The result cells of a step in the demo's step table, its continuation rows included."""
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == ["step", "result"])
    width = lines[header + 1].index(" ") + 2
    rows = [(line[:width].strip(), line[width:]) for line in lines[header + 2 :]]
    rows = rows[: next((i for i, (_, result) in enumerate(rows) if not result), len(rows))]
    start = next(i for i, (name, _) in enumerate(rows) if name == step)
    end = next((i for i in range(start + 1, len(rows)) if rows[i][0]), len(rows))
    return [result for _, result in rows[start:end]]


def test_the_cli_reads_count_the_leads_and_messages_of_the_seed(
    demo_output: str, truth: dict[str, BotTruth]
) -> None:
    leads = sum(len(bot.leads_before) for bot in truth.values())
    messages = sum(len(bot.messages_before) for bot in truth.values())
    assert messages > leads, "the demo's conversations should hold a few messages each"
    assert result_of(demo_output, "check") == ["SUCCEEDED"]
    assert result_of(demo_output, "read, full refresh") == [f"{leads} leads, {messages} messages"]
    assert result_of(demo_output, "read, incremental (no state)") == [
        f"{leads} leads, {messages} messages, state saved"
    ]


def test_end_users_chat_through_send_message(demo_output: str) -> None:
    sent = (CHATS + 1) * len(DEMO_BOTS)
    assert result_of(demo_output, "end users chat") == [
        f"{CHATS} new conversations and 1 follow-up in the oldest one, per bot, through Send "
        f"Message: {sent} messages answered"
    ]


def test_the_saved_state_brings_exactly_the_new_leads_and_messages(
    demo_output: str, truth: dict[str, BotTruth]
) -> None:
    leads = messages = in_new = at_cursor = 0
    for bot in truth.values():
        leads += len(at_or_after(bot.leads_after, latest_ms(bot.leads_before)))
        cursor = latest_ms(bot.messages_before)
        due = at_or_after(bot.messages_after, cursor)
        new = [m for m in bot.messages_after if m["session_id"] in bot.new_sessions]
        old = [m for m in due if m not in new and m not in bot.follow_up]
        assert len(new) == 2 * CHATS and all(m in due for m in new)
        assert all(m in due for m in bot.follow_up)
        assert all(parse_ms(m["created_at"]) == cursor for m in old)
        messages, in_new, at_cursor = messages + len(due), in_new + len(new), at_cursor + len(old)
    started = CHATS * len(DEMO_BOTS)
    follow_ups = 2 * len(DEMO_BOTS)
    assert result_of(demo_output, "read, incremental (saved state)") == [
        f"{leads} leads: {started} new + {leads - started} at the saved cursors (inclusive bound)",
        f"{messages} messages: {in_new} in the new conversations + {follow_ups} of the follow-ups "
        f"(question and answer) + {at_cursor} at the saved cursors",
        f"every message sent and answered was received once ({in_new + follow_ups})",
    ]


def types_of(types: Counter[str], messages: int) -> tuple[int, int, int]:
    """(human, ai, other): any type but human and ai is other, as the summary counts it."""
    return types["human"], types["ai"], messages - types["human"] - types["ai"]


def test_the_duckdb_summary_counts_each_bots_messages_by_type(
    demo_output: str, truth: dict[str, BotTruth]
) -> None:
    cells = [line.split() for line in demo_output.splitlines()]
    rows = [row for row in cells if row and row[0] in DEMO_BOTS]
    expected = []
    for bot_id, bot in truth.items():
        types = Counter(m["message"]["type"] for m in bot.messages_after)
        leads, messages = len(bot.leads_after), len(bot.messages_after)
        to_agent = sum(1 for lead in bot.leads_after if lead.get("for_agent") is True)
        counts = (leads, to_agent, messages, f"{messages / leads:.2f}", *types_of(types, messages))
        expected.append([bot_id, *map(str, counts)])
    header = ["bot_id", "leads", "to_agent", "messages", "per_lead", "human", "ai", "other"]
    assert header in cells
    assert rows == expected
    assert "mock server stopped." in demo_output


def test_help_documents_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    stdout = capsys.readouterr().out
    for flag in ("--leads N", "--messages N|MIN-MAX", "--chats N", "--seed SEED", "--keep"):
        assert flag in stdout
    assert "default 1-6" in stdout


def test_a_bad_messages_range_is_refused_before_the_mock_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--messages", "6-2"])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert "--messages: messages per session 6-2" in captured.err
    assert "mock ChatNode API at" not in captured.out
