"""Properties of the `chats` stream: no message is lost or duplicated, state never moves back,
bots never mix, and `chats_batch_size` changes nothing.

Hypothesis draws leads and chat messages from the spec's `Conversation` and `Chat` schemas
(`unit_tests.strategies`); the mock serves them over real HTTP: the seeded conversations of the
leads' sessions, and messages appended between syncs to old and new conversations, some in the
mock's own words (dated after everything it holds), some raw (quirky timestamps, out of order,
naming another session, another bot's session, no session or not a string). The connector runs
in process (`integration_tests.in_process`). Expectations come from `ChatLedger`, a model of the
documented contract (docs/chatnode.md, issue #10), not from the connector's output:

- a bot's sessions are its leads' session ids, each once, in lead order, asked for
  `chats_batch_size` at a time; a message served for a batch is emitted only when the
  `session_id` it names is in that batch (anything else would repeat or cross bots);
- such a message is due in a sync when it names no usable instant or when its instant is at or
  after its bot's cursor (inclusive, as for leads: `integration_tests.oracle`); the cursor then
  moves to the newest instant emitted, per bot.

A message that becomes readable behind its bot's cursor (appended with an old date, or the old
conversation of a session that arrives late) is late: incremental syncs cannot see it, a full
refresh reads it (the documented limit, as for leads).

Every sync runs several requests at once (batches of one bot too): the spec's default
`num_workers` (5), or 1, 2, 5 or 10 drawn per connection by the state machine, whose syncs also
die after any checkpoint and restart from it.

`HYPOTHESIS_PROFILE=ci` keeps the module near 25 s on two cores.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from math import ceil
from typing import Any

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from integration_tests.in_process import Checkpoint, Key, SyncResult, run_sync
from integration_tests.oracle import (
    EPOCH,
    as_record,
    at_most,
    check_checkpoints,
    due_by_created_at,
    newest,
    worker_counts,
)
from mock_server.server import MockServer
from source_chatnode.run import load_manifest
from unit_tests.strategies import (
    Chat,
    Lead,
    bot_ids,
    chats,
    conversations,
    instant_of,
    instant_pools,
    lead_histories,
    lead_lists,
    message_contents,
    message_types,
    session_ids,
    values_not_of_type,
)

API_KEY = "cn-chats-prop-5e4d3c2b1a"
DEFAULT_BATCH_SIZE: int = load_manifest()["spec"]["connection_specification"]["properties"][
    "chats_batch_size"
]["default"]
"""`chats_batch_size` when the config leaves it out, as the connector's spec documents it."""


@pytest.fixture(scope="module")
def server(chatnode_mock_factory: Callable[..., MockServer]) -> MockServer:
    """One mock for the module; each example resets it. A session whose lead is dated starts
    with 0-2 seeded messages (realistic text, just after the lead), beside those appended."""
    return chatnode_mock_factory(
        api_keys={API_KEY: None}, bots=(), leads_per_bot=0, messages_per_session=(0, 2), seed=11
    )


# What happens to the mock between syncs


@dataclass(frozen=True)
class Arrival:
    """A message appended to one of a bot's conversations."""

    bot: str
    session: str
    """The session it is served for: a session of the bot's leads."""
    raw: Chat | None = None
    """The message, served verbatim; None: the mock writes one dated after all it holds."""
    content: str | None = None
    kind: str = "human"
    """The mock's message's text and type (when `raw` is None)."""


@dataclass(frozen=True)
class Step:
    """What arrives before one sync: leads per bot (new sessions, or a known one again), then
    messages in old and new conversations."""

    leads: dict[str, list[Lead]]
    arrivals: list[Arrival] = field(default_factory=list)


# The oracle: what the documented contract says each sync must emit


def _names_one_of(message: Mapping[str, Any], sessions: frozenset[str]) -> bool:
    named = message.get("session_id")
    return isinstance(named, str) and named in sessions


@dataclass
class ChatLedger:
    """What the test knows across syncs: each bot's leads and the messages served for each of
    its sessions, the batch size, the state the platform committed, which messages reached the
    destination, and which became readable only behind their bot's cursor (late)."""

    batch_size: int = DEFAULT_BATCH_SIZE
    workers: int | None = None
    """`num_workers` of every sync; None leaves it to the spec's default (more than one)."""
    leads: dict[str, list[Lead]] = field(default_factory=dict)
    filed: dict[str, list[tuple[str, Chat]]] = field(default_factory=dict)
    """Bot -> (the session a message is served for, the message as served)."""
    state: list[Mapping[str, Any]] | None = None
    cursors: dict[str, datetime] = field(default_factory=dict)
    delivered: set[Key] = field(default_factory=set)
    late: set[Key] = field(default_factory=set)
    complete: bool = True
    """Whether the committed state is the last checkpoint of a whole sync (not a restart
    point): then every delivered message lies at or behind its bot's cursor."""
    _readable_before: set[Key] = field(default_factory=set)

    # The world, changed through the mock's Python API

    def join(self, server: MockServer, bot: str) -> None:
        server.add_bot(bot, leads=[])
        self.leads[bot], self.filed[bot] = [], []

    def leads_arrive(self, server: MockServer, bot: str, leads: Sequence[Lead]) -> None:
        """New leads; a new session comes with its seeded conversation, read back from the mock
        once (the world's content, not the connector's)."""
        if not leads:
            return
        known = set(self.sessions(bot))
        server.append(bot, leads=list(leads))
        self.leads[bot] += leads
        for session in self.sessions(bot):
            if session not in known:
                self.filed[bot] += [(session, m) for m in server.chats(bot, [session])]
        self._note_late()

    def message_arrives(self, server: MockServer, arrival: Arrival) -> None:
        if arrival.raw is not None:
            served = server.append_message(arrival.bot, arrival.session, raw=arrival.raw)
        else:
            served = server.append_message(
                arrival.bot, arrival.session, content=arrival.content, type=arrival.kind
            )
        self.filed[arrival.bot].append((arrival.session, served))
        self._note_late()

    def apply(self, server: MockServer, step: Step) -> None:
        for bot, leads in step.leads.items():
            if bot not in self.leads:
                self.join(server, bot)
            self.leads_arrive(server, bot, leads)
        for arrival in step.arrivals:
            self.message_arrives(server, arrival)

    def change_batch_size(self, size: int) -> None:
        self.batch_size = size
        self._note_late()

    # The contract

    def sessions(self, bot: str) -> list[str]:
        """The bot's session ids, each once, in the order its leads came."""
        ids = (lead.get("session_id") for lead in self.leads.get(bot, []))
        return list(dict.fromkeys(s for s in ids if isinstance(s, str) and s))

    def message_ids(self, bot: str) -> set[Any]:
        return {message.get("id") for _, message in self.filed.get(bot, [])}

    def readable(self, bot: str) -> dict[Key, Chat]:
        """The bot's messages a sync can emit: those whose `session_id` is in the batch they
        are served for."""
        order, size = self.sessions(bot), self.batch_size
        batches = [frozenset(order[i : i + size]) for i in range(0, len(order), size)]
        batch_of = {session: batches[i // size] for i, session in enumerate(order)}
        return {
            (bot, message["id"]): message
            for session, message in self.filed[bot]
            if _names_one_of(message, batch_of[session])
        }

    def _note_late(self) -> None:
        """Messages that just became readable behind their bot's committed cursor are late."""
        now: set[Key] = set()
        for bot in self.filed:
            cursor = self.cursors.get(bot)
            for key, message in self.readable(bot).items():
                now.add(key)
                moment = instant_of(message.get("created_at"))
                if key in self._readable_before or cursor is None or moment is None:
                    continue
                if moment < cursor:
                    event("a message becomes readable behind its bot's cursor")
                    self.late.add(key)
        self._readable_before = now

    def floor(self, bot: str) -> datetime:
        return self.cursors.get(bot, EPOCH)

    def due(self, bots: Sequence[str]) -> dict[str, dict[Key, Chat]]:
        due = {}
        for bot in bots:
            messages = due_by_created_at(list(self.readable(bot).values()), self.floor(bot))
            due[bot] = {(bot, message["id"]): message for message in messages}
        return due

    def behind(self, bot: str, cursor: datetime) -> set[Key]:
        """The bot's readable messages a sync starting at `cursor` will not read again (strictly
        before it: one on the cursor's own instant is due again, the inclusive bound)."""
        return {
            key
            for key, message in self.readable(bot).items()
            if (moment := instant_of(message.get("created_at"))) is not None and moment < cursor
        }

    # Judging a sync

    def check_bots_never_mix(self, result: SyncResult) -> None:
        """Every message is emitted for a bot that has the session it names."""
        for record in result.records:
            bot, session = record.get("bot_id"), record.get("session_id")
            assert session in self.sessions(bot), (
                f"message {record.get('id')!r} of session {session!r} emitted for bot {bot!r}, "
                "which has no such session"
            )

    def check_checkpoints(self, result: SyncResult) -> None:
        """No checkpoint moves a bot back, forgets it, or passes a message not yet emitted."""
        check_checkpoints(self, result, "messages")

    def check_successful_sync(self, result: SyncResult, bots: Sequence[str]) -> None:
        assert not result.errors, result.errors
        self.check_bots_never_mix(result)
        self.check_checkpoints(result)
        due = self.due(bots)
        assert_emits_exactly(result, due)
        cursors = result.cursors
        for bot in bots:
            assert bot in cursors, f"no cursor for {bot} after a successful sync"
            assert cursors[bot] == newest(self.floor(bot), due[bot].values()), (
                f"{bot}: the cursor is not the newest message emitted"
            )

    def check_only_the_boundary_repeats(self, result: SyncResult) -> None:
        """After a whole sync was committed, a message comes again only on its bot's cursor
        instant, or undated."""
        assert self.complete, "the last commit was a restart point: anything may repeat"
        for key in set(result.keys) & self.delivered:
            bot = key[0]
            moment = instant_of(self.readable(bot)[key].get("created_at"))
            assert moment in (None, self.floor(bot)), f"{key} re-emitted off the boundary"
            event("a boundary or undated message is emitted again")

    def commit(self, result: SyncResult, checkpoint: Checkpoint | None = None) -> None:
        """The platform keeps the records up to a checkpoint and that checkpoint's state."""
        last = result.checkpoints[-1] if result.checkpoints else None
        checkpoint = checkpoint or last
        if checkpoint is None:
            return
        self.delivered |= result.keys_before(checkpoint)
        self.cursors = checkpoint.cursors
        self.state = [checkpoint.message]
        self.complete = checkpoint is last and not result.errors

    def check_nothing_lost(self) -> None:
        """Every readable message behind its bot's cursor reached the destination, or was late."""
        for bot, cursor in self.cursors.items():
            lost = self.behind(bot, cursor) - self.delivered - self.late
            assert not lost, f"{bot}: messages behind the cursor never delivered: {sorted(lost)}"


def assert_no_duplicates(result: SyncResult) -> None:
    twice = sorted(key for key, count in Counter(result.keys).items() if count > 1)
    assert not twice, f"messages emitted more than once in one sync: {twice}"


def assert_emits_within(result: SyncResult, allowed: Mapping[str, Mapping[Key, Chat]]) -> None:
    """Every record is a message its bot may emit now, unaltered, and none comes twice."""
    assert_no_duplicates(result)
    want = {
        key: as_record(bot, m) for bot, messages in allowed.items() for key, m in messages.items()
    }
    unexpected = [
        record for key, record in zip(result.keys, result.records, strict=True) if key not in want
    ]
    assert not unexpected, (
        f"records that are no due message (foreign, stale, wrong bot or invented): {unexpected}"
    )
    for key, record in zip(result.keys, result.records, strict=True):
        assert record == want[key], f"message {key} altered on the way"


def assert_emits_exactly(result: SyncResult, expected: Mapping[str, Mapping[Key, Chat]]) -> None:
    """The records are exactly these messages, each once, field values intact."""
    assert_emits_within(result, expected)
    lost = {key for messages in expected.values() for key in messages} - set(result.keys)
    assert not lost, f"messages not emitted: {sorted(lost)}"


def sync_chats(
    server: MockServer, ledger: ChatLedger, bots: Sequence[str], sync_mode: str = "incremental"
) -> SyncResult:
    """One sync of `chats` at the ledger's batch size, from its committed state (incremental)."""
    return run_sync(
        server,
        bots,
        stream="chats",
        sync_mode=sync_mode,
        state=ledger.state if sync_mode == "incremental" else None,
        chats_batch_size=ledger.batch_size,
        **({"num_workers": ledger.workers} if ledger.workers is not None else {}),
    )


# Strategies: conversations that continue, and messages that misbehave


def batch_sizes() -> st.SearchStrategy[int]:
    """The default first (where shrinking goes), then batches smaller than a bot's sessions,
    and the largest allowed."""
    return st.sampled_from((DEFAULT_BATCH_SIZE, 1, 2, 3, 1000))


ABSENT = object()
"""A raw message's `session_id` left out altogether."""


@st.composite
def named_sessions(
    draw: st.DrawFn,
    served_for: str,
    own: Sequence[str],
    others: Sequence[str],
    within_bot: bool,
) -> Any:
    """What a raw message's `session_id` says: mostly the session it is served for; else
    another session of its bot (only `within_bot`), a session of another bot (which may be one of
    its own too: bots share ids), a session nobody has, nothing, or not a string."""
    siblings = [s for s in own if s != served_for] if within_bot else []
    foreign = [s for s in others if within_bot or s == served_for or s not in own]
    known = {*own, *others}
    namings: dict[str, st.SearchStrategy[Any] | None] = {
        "its own session": st.just(served_for),
        "another session of its bot": st.sampled_from(siblings) if siblings else None,
        "a session of another bot": st.sampled_from(foreign) if foreign else None,
        "a session nobody has": session_ids().filter(lambda s: s not in known),
        "no session_id": st.just(ABSENT),
        "not a string": st.none() | values_not_of_type("string"),
    }
    choices = [name for name, strategy in namings.items() if strategy is not None]
    name = draw(st.sampled_from(["its own session", "its own session", *choices]))
    event(f"a raw message names {name}")
    strategy = namings[name]
    assert strategy is not None
    return draw(strategy)


@st.composite
def arrivals(
    draw: st.DrawFn,
    bot: str,
    sessions: Mapping[str, Sequence[str]],
    pool: Sequence[datetime],
    used_ids: set[Any],
    within_bot: bool = True,
) -> Arrival:
    """A message appended to one of `bot`'s sessions: the mock's own, or a raw one drawn from the
    `Chat` schema with timestamps from `pool` and an id the bot has not used (`used_ids` only
    grows, so the suffix makes it new)."""
    session = draw(st.sampled_from(list(sessions[bot])))
    if draw(st.integers(0, 3)) == 0:
        return Arrival(bot, session, content=draw(message_contents()), kind=draw(message_types()))
    raw = draw(chats([session], pool))
    if raw["id"] in used_ids:  # ids are the bot's primary key: unique within it, not across bots
        raw["id"] += f"-{len(used_ids)}"
    others = [s for other, ids in sessions.items() if other != bot for s in ids]
    named = draw(named_sessions(session, sessions[bot], others, within_bot))
    if named is ABSENT:
        raw.pop("session_id")
    else:
        raw["session_id"] = named
    return Arrival(bot, session, raw=raw)


@st.composite
def histories(
    draw: st.DrawFn, min_steps: int = 1, max_steps: int = 3, within_bot: bool = True
) -> list[Step]:
    """One or two bots over a few syncs: before each, leads arrive (new sessions, now and then a
    known session again) and messages are appended to any session known by then. `within_bot`
    False leaves out raw messages naming another session of their own bot."""
    bots = draw(st.lists(bot_ids(), min_size=1, max_size=2, unique=True))
    pool = draw(instant_pools())
    steps = draw(st.integers(min_steps, max_steps))
    lead_batches = draw(lead_histories(bots, batches=steps, pool=pool, max_leads=4))
    sessions: dict[str, list[str]] = {bot: [] for bot in bots}
    used: dict[str, set[Any]] = {bot: set() for bot in bots}
    history = []
    for step in range(steps):
        arriving = {}
        for bot in bots:
            leads = list(lead_batches[bot][step])
            if sessions[bot] and draw(st.integers(0, 3)) == 0:
                again = draw(st.sampled_from(sessions[bot]))
                leads.append({**draw(conversations(pool)), "session_id": again})
            arriving[bot] = leads
            for lead in leads:
                if lead["session_id"] not in sessions[bot]:
                    sessions[bot].append(lead["session_id"])
        open_bots = [bot for bot in bots if sessions[bot]]
        messages = []
        for _ in range(draw(st.integers(0, 5)) if open_bots else 0):
            bot = draw(st.sampled_from(open_bots))
            arrival = draw(arrivals(bot, sessions, pool, used[bot], within_bot))
            if arrival.raw is not None:
                used[bot].add(arrival.raw["id"])
            messages.append(arrival)
        history.append(Step(arriving, messages))
    return history


def start(server: MockServer, history: Sequence[Step], batch_size: int) -> ChatLedger:
    """A fresh mock serving the bots of `history`, none of their leads yet."""
    server.reset()
    ledger = ChatLedger(batch_size=batch_size)
    for bot in history[0].leads:
        ledger.join(server, bot)
    return ledger


# 1. Full refresh: each message once, for its own bot

TWO_BOTS_ONE_SESSION_ID = [
    Step(
        leads={
            "a": [
                {"session_id": "s", "created_at": "2024-06-30T17:32:53.518+00:00"},
                {"session_id": "t"},
                {"session_id": "s", "created_at": "2020-01-01T00:00:00Z"},
            ],
            "b": [
                {"session_id": "s", "created_at": "2024-06-30T19:32:53.5+02:00"},
                {"session_id": "u", "created_at": "2024-06-30T19:32:53.5+02:00"},
            ],
        },
        arrivals=[
            Arrival("a", "s", raw={"id": "0", "message": {}, "session_id": "s"}),
            Arrival("b", "s", raw={"id": "0", "message": {"type": "ai"}, "session_id": "s"}),
            # Served for a's `s`, naming b's session `u`, a session nobody has, nothing, a list.
            Arrival("a", "s", raw={"id": "1", "message": {}, "session_id": "u"}),
            Arrival("a", "s", raw={"id": "2", "message": {}, "session_id": "zz"}),
            # Naming a's other session: read only when `t` shares the batch of `s`.
            Arrival("a", "s", raw={"id": "6", "message": {}, "session_id": "t"}),
            Arrival("a", "t", raw={"id": "3", "message": {}, "created_at": 1719768767426}),
            Arrival("a", "t", raw={"id": "4", "message": {}, "session_id": ["t"]}),
            # Out of order: dated long before the messages appended before it.
            Arrival(
                "a",
                "t",
                raw={
                    "id": "5",
                    "message": {},
                    "session_id": "t",
                    "created_at": "2001-01-01T00:00:00Z",
                },
            ),
            Arrival("a", "t", content="Any news on my refund? 🙏", kind="human"),
        ],
    )
]


@given(history=histories(max_steps=1), batch_size=batch_sizes())
@example(history=TWO_BOTS_ONE_SESSION_ID, batch_size=1)
@example(history=TWO_BOTS_ONE_SESSION_ID, batch_size=DEFAULT_BATCH_SIZE)
# Found by hypothesis: a message whose session_id is a list crashed the sync (TypeError in the
# batch filter's set lookup) instead of being dropped as naming no session asked for.
@example(
    history=[
        Step(
            leads={"0": [{"session_id": "0"}]},
            arrivals=[Arrival("0", "0", raw={"id": "0", "message": {}, "session_id": []})],
        )
    ],
    batch_size=DEFAULT_BATCH_SIZE,
)
@at_most(15)
def test_full_refresh_emits_each_readable_message_once_for_its_own_bot(
    server: MockServer, history: list[Step], batch_size: int
) -> None:
    ledger = start(server, history, batch_size)
    ledger.apply(server, history[0])
    bots = list(history[0].leads)
    result = sync_chats(server, ledger, bots, sync_mode="full_refresh")
    assert not result.errors, result.errors
    ledger.check_bots_never_mix(result)
    assert_emits_exactly(result, {bot: ledger.readable(bot) for bot in bots})


# 2. The batch size changes nothing


def requests_per_bot(entries: Sequence[Mapping[str, Any]], endpoint: str) -> Counter[str]:
    return Counter(entry["bot"] for entry in entries if f"/{endpoint}/" in entry["path"])


@given(
    history=histories(max_steps=1, within_bot=False),
    batch_size=st.sampled_from((2, 3, 1000)),
)
@at_most(10)
def test_the_batch_size_changes_neither_the_records_nor_the_state(
    server: MockServer, history: list[Step], batch_size: int
) -> None:
    """One session per request and `batch_size` per request read the same messages and save the
    same state; each bot costs one leads request and ceil(sessions / batch) chats requests.

    Raw messages naming another session of their own bot are left out: the contract drops a
    message whose session is not in its batch, so whether one is read depends on the batches
    (`ChatLedger.readable`, and the state machine, hold the connector to exactly that)."""
    ledger = start(server, history, 1)
    ledger.apply(server, history[0])
    bots = list(history[0].leads)
    runs = {}
    for size in (1, batch_size):
        ledger.batch_size = size
        before = len(server.journal())
        result = sync_chats(server, ledger, bots)
        assert not result.errors, result.errors
        assert_no_duplicates(result)
        runs[size] = result
        served = server.journal()[before:]
        assert requests_per_bot(served, "get-conversation-ids") == Counter(bots)
        chats_requests = requests_per_bot(served, "get-chats")
        for bot in bots:
            want = ceil(len(ledger.sessions(bot)) / size)
            assert chats_requests[bot] == want, f"{bot}: {chats_requests[bot]} chats requests"
    one, batched = runs[1], runs[batch_size]
    by_key = {key: record for key, record in zip(one.keys, one.records, strict=True)}
    assert dict(zip(batched.keys, batched.records, strict=True)) == by_key
    assert batched.cursors == one.cursors
    assert_emits_exactly(batched, {bot: ledger.readable(bot) for bot in bots})


# 3. Incremental syncs over conversations that continue

BOUNDARY_SPELLINGS = [
    Step(
        leads={"a": [{"session_id": "old", "created_at": "2024-06-30T17:00:00Z"}]},
        arrivals=[
            Arrival(
                "a",
                "old",
                raw={
                    "id": "0",
                    "message": {},
                    "session_id": "old",
                    "created_at": "2024-06-30T17:32:53.518Z",
                },
            )
        ],
    ),
    Step(
        leads={"a": [{"session_id": "new", "created_at": "2024-06-30T16:00:00Z"}]},
        arrivals=[
            # The cursor's instant in another spelling: due (inclusive); a microsecond before
            # it, in an offset that sorts after it as text: late; the old conversation goes on
            # in the mock's words, after everything: due; an undated one: due every sync.
            Arrival(
                "a",
                "old",
                raw={
                    "id": "1",
                    "message": {},
                    "session_id": "old",
                    "created_at": "2024-06-30T12:32:53.518-05:00",
                },
            ),
            Arrival(
                "a",
                "new",
                raw={
                    "id": "2",
                    "message": {},
                    "session_id": "new",
                    "created_at": "2024-06-30T19:32:53.517999+02:00",
                },
            ),
            Arrival("a", "old", content="Still there?", kind="human"),
            Arrival("a", "new", raw={"id": "3", "message": {}, "session_id": "new"}),
        ],
    ),
    Step(leads={"a": []}, arrivals=[Arrival("a", "new", content="", kind="ai")]),
]


@given(history=histories(min_steps=2, max_steps=3), batch_size=batch_sizes())
@example(history=BOUNDARY_SPELLINGS, batch_size=1)
@at_most(10)
def test_incremental_syncs_emit_each_due_message_once_and_repeat_only_the_boundary(
    server: MockServer, history: list[Step], batch_size: int
) -> None:
    ledger = start(server, history, batch_size)
    bots = list(history[0].leads)
    for step in history:
        ledger.apply(server, step)
        result = sync_chats(server, ledger, bots)
        ledger.check_successful_sync(result, bots)
        ledger.check_only_the_boundary_repeats(result)
        ledger.commit(result)
        ledger.check_nothing_lost()

    readable = {key for bot in bots for key in ledger.readable(bot)}
    assert readable - ledger.delivered == ledger.late, "a message other than a late one was lost"
    refreshed = sync_chats(server, ledger, bots, sync_mode="full_refresh")
    assert not refreshed.errors, refreshed.errors
    assert_emits_exactly(refreshed, {bot: ledger.readable(bot) for bot in bots})


# 4. Everything at once: a state machine over conversations, leads, batch sizes and syncs


class ChatSyncMachine(RuleBasedStateMachine):
    """A connection's life: conversations continue, leads and bots arrive, the batch size is
    changed, syncs run and sometimes die after a checkpoint and restart from it; after every
    step no message is lost and no bot's state has moved back."""

    def __init__(self, server: MockServer) -> None:
        super().__init__()
        self.server = server
        self.ledger = ChatLedger()
        self.bots: list[str] = []
        self.pool: list[datetime] = []
        self.highest: dict[str, datetime] = {}

    @initialize(pool=instant_pools(), first=bot_ids(), workers=worker_counts(), data=st.data())
    def begin(self, pool: list[datetime], first: str, workers: int, data: st.DataObject) -> None:
        self.server.reset()
        self.pool = pool
        self.ledger.workers = workers
        self._join(first, data.draw(lead_lists(pool, max_size=4), label="leads"))

    def _join(self, bot: str, leads: list[Lead]) -> None:
        self.ledger.join(self.server, bot)
        self.ledger.leads_arrive(self.server, bot, leads)
        self.bots.append(bot)

    @rule(data=st.data())
    def leads_arrive(self, data: st.DataObject) -> None:
        """New sessions, or a known session's lead again (sessions are deduplicated)."""
        bot = data.draw(st.sampled_from(self.bots), label="bot")
        leads = data.draw(lead_lists(self.pool, min_size=1, max_size=3), label="leads")
        self.ledger.leads_arrive(self.server, bot, leads)

    @precondition(lambda self: len(self.bots) < 3)
    @rule(bot=bot_ids(), data=st.data())
    def a_bot_joins_the_config(self, bot: str, data: st.DataObject) -> None:
        if bot not in self.bots:
            self._join(bot, data.draw(lead_lists(self.pool, max_size=4), label="leads"))

    @precondition(lambda self: any(self.ledger.sessions(bot) for bot in self.bots))
    @rule(count=st.integers(min_value=1, max_value=3), data=st.data())
    def conversations_continue(self, count: int, data: st.DataObject) -> None:
        sessions = {b: self.ledger.sessions(b) for b in self.bots}
        for _ in range(count):
            bot = data.draw(st.sampled_from([b for b in self.bots if sessions[b]]), label="bot")
            used = self.ledger.message_ids(bot)
            arrival = data.draw(arrivals(bot, sessions, self.pool, used), label="message")
            self.ledger.message_arrives(self.server, arrival)

    @rule(size=batch_sizes())
    def the_batch_size_changes(self, size: int) -> None:
        self.ledger.change_batch_size(size)

    @rule(crash_after=st.none() | st.integers(min_value=0, max_value=2))
    def sync(self, crash_after: int | None) -> None:
        result = sync_chats(self.server, self.ledger, self.bots)
        self.ledger.check_successful_sync(result, self.bots)
        if self.ledger.complete:
            self.ledger.check_only_the_boundary_repeats(result)
        checkpoint = None
        if crash_after is not None and result.checkpoints:
            checkpoint = result.checkpoints[min(crash_after, len(result.checkpoints) - 1)]
        self.ledger.commit(result, checkpoint)

    @rule()
    def full_refresh(self) -> None:
        result = sync_chats(self.server, self.ledger, self.bots, sync_mode="full_refresh")
        assert not result.errors, result.errors
        self.ledger.check_bots_never_mix(result)
        assert_emits_exactly(result, {bot: self.ledger.readable(bot) for bot in self.bots})

    @invariant()
    def no_message_behind_a_cursor_is_lost(self) -> None:
        self.ledger.check_nothing_lost()

    @invariant()
    def no_bots_state_moves_back(self) -> None:
        for bot, cursor in self.highest.items():
            assert self.ledger.cursors.get(bot, EPOCH) >= cursor, (
                f"{bot}: committed state moved back"
            )
        self.highest = dict(self.ledger.cursors)


def test_no_message_is_lost_as_conversations_continue_and_syncs_restart(
    server: MockServer,
) -> None:
    run_state_machine_as_test(
        lambda: ChatSyncMachine(server),
        settings=settings(at_most(8), stateful_step_count=15),
    )


@pytest.mark.chatnode_mock(bots=(), leads_per_bot=0, messages_per_session=(0, 0))
def test_start_date_reads_new_messages_of_a_conversation_whose_lead_is_older(
    chatnode_mock: MockServer,
) -> None:
    """`start_date` filters messages by their own `created_at`, not their lead's: a conversation
    begun before it still gives the messages written after it (a filter on the leads, or on the
    lead's date, would lose them)."""
    lead = {"session_id": "old-conversation", "created_at": "2023-01-01T00:00:00Z"}
    chatnode_mock.add_bot("bot-a", leads=[lead])
    messages = {
        name: {
            "id": name,
            "session_id": lead["session_id"],
            "created_at": created_at,
            "message": {"type": "human", "content": name},
        }
        for name, created_at in (
            ("before", "2023-06-30T23:59:59.999999Z"),
            ("on", "2023-07-01T02:00:00+02:00"),
            ("after", "2024-03-01T10:00:00Z"),
        )
    }
    for message in messages.values():
        chatnode_mock.append_message("bot-a", lead["session_id"], raw=message)
    for sync_mode in ("incremental", "full_refresh"):
        result = run_sync(
            chatnode_mock,
            ["bot-a"],
            stream="chats",
            sync_mode=sync_mode,
            start_date="2023-07-01T00:00:00Z",
        )
        assert not result.errors, result.errors
        assert sorted(result.records, key=lambda r: r["id"]) == [
            as_record("bot-a", messages["after"]),
            as_record("bot-a", messages["on"]),
        ], sync_mode
