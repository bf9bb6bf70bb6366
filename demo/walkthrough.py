"""The connector's life cycle through its CLI: check, discover, a full refresh, an incremental read
that saves state, and a second incremental read after the mock gained new leads (with their
conversations) and a follow-up message in an old conversation, which that read must pick up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from demo.connector import Read, configured_catalog, of_type, run_connector
from demo.mock import MockAdmin

FOLLOW_UP = {"content": "Hi again! Is the annual discount still available? 🙂", "type": "human"}
"""The follow-up the demo adds to each bot's oldest conversation, after every message the bot has:
an incremental read must pick it up although its lead is long behind the saved cursor."""


@dataclass(frozen=True)
class Step:
    """One line of the demo's report."""

    name: str
    result: str


def _counts(read: Read) -> str:
    return f"{read.count('leads')} leads, {read.count('chats')} messages"


def _oldest_sessions(read: Read) -> dict[str, str]:
    """Bot id -> the session id of its oldest lead in this read (ties: the smallest id)."""
    oldest: dict[str, tuple[datetime, str]] = {}
    for lead in read.records.get("leads", []):
        entry = (datetime.fromisoformat(lead["created_at"]), lead["session_id"])
        oldest[lead["bot_id"]] = min(oldest.get(lead["bot_id"], entry), entry)
    return {bot: session_id for bot, (_, session_id) in oldest.items()}


def cli_walkthrough(config: dict[str, Any], workdir: Path, appended_leads: int) -> list[Step]:
    """Run the life cycle against the mock at `config["base_url"]`; raise if the second
    incremental read misses a follow-up."""
    bots = config["bot_ids"]
    admin = MockAdmin(config["base_url"])
    status = of_type(run_connector("check", workdir, config=config), "CONNECTION_STATUS")[0]
    steps = [Step("check", status["connectionStatus"]["status"])]
    catalog = of_type(run_connector("discover", workdir, config=config), "CATALOG")[0]["catalog"]
    for stream in catalog["streams"]:
        key = ", ".join(".".join(path) for path in stream["source_defined_primary_key"])
        cursor = ".".join(stream["default_cursor_field"])
        steps.append(Step("discover", f"stream `{stream['name']}`, key ({key}), cursor {cursor}"))

    full = Read.of(
        run_connector(
            "read", workdir, config=config, catalog=configured_catalog(catalog, "full_refresh")
        )
    )
    steps.append(Step("read, full refresh", _counts(full)))

    incremental_catalog = configured_catalog(catalog, "incremental")
    first = Read.of(run_connector("read", workdir, config=config, catalog=incremental_catalog))
    steps.append(Step("read, incremental (no state)", f"{_counts(first)}, state saved"))

    new_sessions = {
        lead["session_id"] for bot in bots for lead in admin.append_leads(bot, appended_leads)
    }
    steps.append(
        Step("mock: append leads", f"{appended_leads} new leads to each of {len(bots)} bots")
    )
    follow_ups = {
        admin.append_message(bot, session, FOLLOW_UP["content"], FOLLOW_UP["type"])["id"]: session
        for bot, session in _oldest_sessions(first).items()
    }
    steps.append(
        Step(
            "mock: add follow-ups",
            f"a {FOLLOW_UP['type']} follow-up in the oldest conversation of each of {len(bots)} bots",
        )
    )

    second = Read.of(
        run_connector(
            "read", workdir, config=config, catalog=incremental_catalog, state=first.states
        )
    )
    steps.append(
        Step("read, incremental (saved state)", _leads_result(second, appended_leads, bots))
    )
    steps += [Step("", line) for line in _chats_result(second, new_sessions, follow_ups)]
    return steps


def _leads_result(read: Read, appended: int, bots: list[str]) -> str:
    emitted, new = read.count("leads"), appended * len(bots)
    return f"{emitted} leads: {new} new + {emitted - new} at the saved cursors (inclusive bound)"


def _chats_result(read: Read, new_sessions: set[str], follow_ups: dict[str, str]) -> list[str]:
    """The messages of the second incremental read by why they came (the new leads'
    conversations, the re-read at the saved cursors, the follow-ups in old conversations), then
    the follow-ups by id; raises if one is missing."""
    messages = read.records.get("chats", [])
    received = {m["id"]: m["bot_id"] for m in messages if m["id"] in follow_ups}
    missing = follow_ups.keys() - received.keys()
    if missing:
        lost = ", ".join(f"{i} (session {follow_ups[i]})" for i in sorted(missing))
        raise RuntimeError(f"the incremental read lost follow-ups in old conversations: {lost}")
    in_new = sum(1 for m in messages if m["session_id"] in new_sessions)
    at_cursor = len(messages) - in_new - len(received)
    ids = ", ".join(f"{i} ({bot})" for i, bot in sorted(received.items(), key=lambda r: r[1]))
    return [
        f"{len(messages)} messages: {in_new} of the new leads + {at_cursor} at the saved cursors "
        f"+ {len(received)} follow-ups",
        f"follow-ups received: {ids}",
    ]
