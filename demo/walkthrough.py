"""The connector's life cycle, printed step by step: check, discover, a full refresh, an
incremental read that saves state, and a second one after end users chatted through Send Message,
which must bring exactly what they said and otherwise only what sits on the saved cursors (the
inclusive bound).

The connector runs in process through the project's own driver (`source_chatnode.in_process`, as
the dlt and Singer adapters do): the declarative source the CLI runs, catalog and state included.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airbyte_cdk.models import Status

from demo.end_users import EndUsers, Turn
from source_chatnode.in_process import LOGGER, Checkpoint, read_stream, stream_definitions
from source_chatnode.run import declarative_source

STEP = "{:<31}  {}"
"""One row of the step table: the step's name, then its result."""
QUIET = logging.getLogger("demo.walkthrough")
"""The connector's own log lines: only its warnings and errors reach the demo's stderr."""
Record = dict[str, Any]


@dataclass(frozen=True)
class Read:
    """What one read of every stream emitted: records, and the last state, by stream."""

    records: dict[str, list[Record]]
    states: dict[str, dict[str, Any]]

    def counts(self) -> str:
        return f"{len(self.records['leads'])} leads, {len(self.records['chats'])} messages"

    def cursors(self, stream: str) -> dict[str, datetime]:
        """Bot -> the cursor the stream's last state saved for it."""
        entries = self.states.get(stream, {}).get("states", [])
        return {e["partition"]["bot_id"]: _instant(e["cursor"]) for e in entries}


def read_all(config: dict[str, Any], incremental: bool, after: Read | None = None) -> Read:
    """Every stream, from the state `after` saved (or from the start); a failure raises
    `ConnectorError` with the connector's own message."""
    records: dict[str, list[Record]] = {}
    states: dict[str, dict[str, Any]] = {}
    for stream in stream_definitions():
        state = after.states.get(stream.name) if after else None
        records[stream.name] = []
        for item in read_stream(
            config, stream, stream_state=state, incremental=incremental, logger=QUIET
        ):
            if isinstance(item, Checkpoint):
                states[stream.name] = item.stream_state
            else:
                records[stream.name].append(item)
    return Read(records, states)


def report(name: str, *results: str) -> None:
    for i, result in enumerate(results):
        print(STEP.format("" if i else name, result))


def life_cycle(config: dict[str, Any], new_users: int) -> None:
    """Run the life cycle against the mock at `config["base_url"]`; raise if a step fails or the
    second incremental read misses or invents a lead or message."""
    report("step", "result")
    report("-" * 31, "-" * 6)
    status = declarative_source(config=config).check(LOGGER, config)
    if status.status != Status.SUCCEEDED:
        raise RuntimeError(f"source-chatnode check failed: {status.message}")
    report("check", status.status.value)
    for stream in stream_definitions():
        key = ", ".join(stream.primary_key)
        report("discover", f"stream `{stream.name}`, key ({key}), cursor {stream.cursor_field}")
    report("read, full refresh", read_all(config, incremental=False).counts())
    first = read_all(config, incremental=True)
    report("read, incremental (no state)", f"{first.counts()}, state saved")

    oldest = {}  # bot -> the session of its oldest lead (ties: the smallest id)
    for lead in sorted(first.records["leads"], key=lambda x: (_instant(x), x["session_id"])):
        oldest.setdefault(lead["bot_id"], lead["session_id"])
    end_users = EndUsers(config["base_url"], config["api_key"])
    try:
        turns = end_users.chat(config["bot_ids"], new_users, oldest)
    finally:
        end_users.close()
    report(
        "end users chat",
        f"{new_users} new conversations and 1 follow-up in the oldest one, per bot, through "
        f"Send Message: {len(turns)} messages answered",
    )
    second = read_all(config, incremental=True, after=first)
    report("read, incremental (saved state)", *received(second, first, turns, new_users))


def received(second: Read, first: Read, turns: list[Turn], new_users: int) -> list[str]:
    """The second read must bring the end users' new leads and both sides of every turn, each
    once, and otherwise only records on the cursors `first` saved."""
    follow_ups = [turn for i, turn in enumerate(turns) if i % (new_users + 1) == new_users]
    sessions = {(t.bot_id, t.session_id) for t in turns if t not in follow_ups}
    new_leads, old_leads = split(second, first, "leads", lambda x: _session(x) in sessions)
    if lost := sessions - {_session(lead) for lead in new_leads}:
        raise RuntimeError(f"the incremental read lost new leads: {sorted(lost)}")
    said = [
        (t.bot_id, t.session_id, kind, text)
        for t in turns
        for kind, text in (("human", t.question), ("ai", t.reply))
    ]
    sent, old = split(second, first, "chats", lambda message: _said(message) in said)
    if sorted(map(_said, sent)) != sorted(said):
        raise RuntimeError("the incremental read lost or repeated end users' words")
    in_follow_ups = 2 * len(follow_ups)
    return [
        f"{len(new_leads) + len(old_leads)} leads: {len(new_leads)} new + {len(old_leads)} at "
        "the saved cursors (inclusive bound)",
        f"{len(sent) + len(old)} messages: {len(sent) - in_follow_ups} in the new conversations + "
        f"{in_follow_ups} of the follow-ups (question and answer) + {len(old)} at the saved "
        "cursors",
        f"every message sent and answered was received once ({len(sent)})",
    ]


def split(
    read: Read, before: Read, stream: str, is_new: Callable[[Record], bool]
) -> tuple[list[Record], list[Record]]:
    """The stream's new records, and the others, each of which must sit on its bot's cursor."""
    old = [record for record in read.records[stream] if not is_new(record)]
    cursors = before.cursors(stream)
    if any(_instant(record) != cursors.get(record["bot_id"]) for record in old):
        raise RuntimeError(f"the incremental read brought {stream} neither new nor on the cursor")
    return [record for record in read.records[stream] if is_new(record)], old


def _instant(record: Record) -> datetime:
    return datetime.fromisoformat(record["created_at"])


def _session(lead: Record) -> tuple[str, str]:
    return (lead["bot_id"], lead["session_id"])


def _said(message: Record) -> tuple[str, str, str, str]:
    data = message["message"]
    return (message["bot_id"], message["session_id"], data["type"], data["data"]["content"])
