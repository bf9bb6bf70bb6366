"""The connector's life cycle through its CLI: check, discover, a full refresh, an incremental read
that saves state, and a second incremental read after end users chatted through Send Message (new
conversations, and a follow-up in each bot's oldest one), which must pick up exactly what they
said: every new lead and message, and nothing else but what sits on the saved cursors (the
inclusive bound)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from demo.connector import Read, configured_catalog, of_type, run_connector
from demo.end_users import EndUsers, Turn


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


def cli_walkthrough(config: dict[str, Any], workdir: Path, new_users: int) -> list[Step]:
    """Run the life cycle against the mock at `config["base_url"]`; raise if the second
    incremental read misses or invents a lead or message."""
    bots = config["bot_ids"]
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

    end_users = EndUsers(config["base_url"], config["api_key"])
    try:
        turns = end_users.chat(bots, new_users, _oldest_sessions(first))
    finally:
        end_users.close()
    steps.append(
        Step(
            "end users chat",
            f"{new_users} new conversations and 1 follow-up in the oldest one, per bot, through "
            f"Send Message: {len(turns)} messages answered",
        )
    )

    second = Read.of(
        run_connector(
            "read", workdir, config=config, catalog=incremental_catalog, state=first.states
        )
    )
    expected = Expected(turns, new_users, first.cursors())
    steps.append(Step("read, incremental (saved state)", expected.leads_result(second)))
    steps += [Step("", line) for line in expected.chats_result(second)]
    return steps


@dataclass(frozen=True)
class Expected:
    """What the second incremental read must bring after the end users' turns: their new leads
    and both sides of every turn, plus only records on the saved cursors (read again, as the
    inclusive bound does)."""

    turns: list[Turn]
    new_users: int
    cursors: dict[str, dict[str, datetime]]
    """stream -> bot -> the saved cursor."""

    def _on_cursor(self, stream: str, record: dict[str, Any]) -> bool:
        saved = self.cursors[stream].get(record["bot_id"])
        return datetime.fromisoformat(record["created_at"]) == saved

    def leads_result(self, read: Read) -> str:
        follow_ups = self._follow_ups()
        new = {(t.bot_id, t.session_id) for t in self.turns if t not in follow_ups}
        leads = read.records.get("leads", [])
        received = {(lead["bot_id"], lead["session_id"]) for lead in leads}
        if not new <= received:
            raise RuntimeError(f"the incremental read lost new leads: {sorted(new - received)}")
        others = [x for x in leads if (x["bot_id"], x["session_id"]) not in new]
        if not all(self._on_cursor("leads", lead) for lead in others):
            raise RuntimeError("the incremental read brought a lead neither new nor on the cursor")
        return (
            f"{len(leads)} leads: {len(new)} new + {len(others)} at the saved cursors "
            "(inclusive bound)"
        )

    def _follow_ups(self) -> list[Turn]:
        per_bot = self.new_users + 1
        return [turn for i, turn in enumerate(self.turns) if i % per_bot == self.new_users]

    def chats_result(self, read: Read) -> list[str]:
        messages = read.records.get("chats", [])
        said = [
            (t.bot_id, t.session_id, kind, text)
            for t in self.turns
            for kind, text in (("human", t.question), ("ai", t.reply))
        ]
        sent = [m for m in messages if _said(m) in said]
        missing = set(said) - {_said(m) for m in sent}
        if missing or len(sent) != len(said):
            raise RuntimeError(f"the incremental read lost or repeated end users' words: {missing}")
        others = [m for m in messages if _said(m) not in said]
        if not all(self._on_cursor("chats", m) for m in others):
            raise RuntimeError(
                "the incremental read brought a message neither new nor on the cursor"
            )
        follow_ups = len(self._follow_ups())
        return [
            f"{len(messages)} messages: {len(sent) - 2 * follow_ups} in the new conversations + "
            f"{2 * follow_ups} of the follow-ups (question and answer) + {len(others)} at the "
            "saved cursors",
            f"every message sent and answered was received once ({len(sent)})",
        ]


def _said(message: dict[str, Any]) -> tuple[str, str, str, str]:
    data = message["message"]
    return (message["bot_id"], message["session_id"], data["type"], data["data"]["content"])
