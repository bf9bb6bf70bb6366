"""Properties of the sandbox end to end: end users chat through Send Message (new sessions and
follow-ups in old ones, on several bots) while incremental syncs of `leads` and `chats` run; every
lead and message is read exactly once (a repeat only on its bot's cursor instant, as the
inclusive cursor documents), each bot's state only moves forward, no bot's data shows up under
another bot, and each reply is read after its question.

Expectations come from `ChatModel`, built from what Send Message answers (the session it used,
the reply) and what the mock held before the first message, never from the connector's output.
The connector runs in process (`integration_tests.in_process`). `test_a_broken_store_is_caught`
swaps in store variants with one bug each (a lost reply, a reply dated before its question, a
session listed under another bot) and shows that the same state machine fails on each.

`HYPOTHESIS_PROFILE=ci` keeps the module near 40 s on one core (bounded examples and steps, no
retries: the mock injects no faults here).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from integration_tests.in_process import SyncResult, run_sync
from integration_tests.oracle import EPOCH, at_most
from mock_server.server import MockServer
from mock_server.store import Exchange
from unit_tests.strategies import instant_of, message_contents

API_KEY = "cn-send-prop-7f6e5d4c3b"
BOTS = ("bot-a", "bot-b", "bot-c")


@pytest.fixture(scope="module")
def server(chatnode_mock_factory: Callable[..., MockServer]) -> MockServer:
    """One mock for the module, reset per example: three bots with two seeded leads each and
    0-2 seeded messages per session."""
    return chatnode_mock_factory(
        api_keys={API_KEY: None}, bots=BOTS, leads_per_bot=2, messages_per_session=(0, 2), seed=5
    )


@dataclass
class Turn:
    """One Send Message as the model knows it: the question asked and the reply answered."""

    question: str
    reply: str


@dataclass
class ChatModel:
    """What the mock must serve, per bot: its sessions and how many messages each holds, and the
    turns sent in each; plus what the destination has received and the committed state."""

    sessions: dict[str, dict[str, int]] = field(default_factory=dict)
    """bot -> session -> number of messages it holds."""
    turns: dict[tuple[str, str], list[Turn]] = field(default_factory=lambda: defaultdict(list))
    states: dict[str, list[Mapping[str, Any]] | None] = field(default_factory=dict)
    """stream -> the state file of its next incremental sync."""
    cursors: dict[str, dict[str, datetime]] = field(default_factory=dict)
    """stream -> bot -> committed cursor."""
    received: dict[str, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)
    """stream -> primary key -> the record as first received."""

    @classmethod
    def of(cls, server: MockServer) -> ChatModel:
        model = cls()
        for bot in BOTS:
            leads = [lead["session_id"] for lead in server.leads(bot)]
            model.sessions[bot] = {s: len(server.chats(bot, [s])) for s in leads}
        for stream in ("leads", "chats"):
            model.states[stream], model.cursors[stream], model.received[stream] = None, {}, {}
        return model

    def sent(self, bot: str, question: str, answer: Mapping[str, Any]) -> None:
        session = answer["chat_session_id"]
        held = self.sessions[bot]
        held[session] = held.get(session, 0) + 2
        self.turns[(bot, session)].append(Turn(question, answer["message"]))

    def owner(self, session: str) -> set[str]:
        return {bot for bot, held in self.sessions.items() if session in held}

    def take(self, stream: str, result: SyncResult) -> None:
        """Check one incremental sync of `stream` against the model, then commit it."""
        assert not result.errors, result.errors
        assert result.checkpoints, f"{stream}: a sync without a checkpoint"
        before = self.cursors[stream]
        received = self.received[stream]
        for record, key in zip(result.records, result.keys, strict=True):
            bot, session = key[0], record.get("session_id")
            assert bot in self.owner(session), f"{stream}: {key} is not {bot}'s data"
            if key in received:
                moment = instant_of(record.get("created_at"))
                assert moment == before.get(bot), f"{stream}: {key} read again off the boundary"
            received.setdefault(key, record)
        cursors = result.checkpoints[-1].cursors
        for bot, cursor in before.items():
            assert cursors.get(bot, EPOCH) >= cursor, f"{stream}: {bot}'s state moved back"
        self.cursors[stream] = cursors
        self.states[stream] = result.final_state

    def check_everything_read(self) -> None:
        """After a sync of both streams: every lead and message the model expects, nothing more."""
        leads = {key for key in self.received["leads"]}
        assert leads == {(b, s) for b, held in self.sessions.items() for s in held}
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for (bot, _), record in self.received["chats"].items():
            counts[(bot, record["session_id"])] += 1
        expected = {(b, s): n for b, held in self.sessions.items() for s, n in held.items() if n}
        assert dict(counts) == expected, "a message was lost, or read that should not exist"
        for (bot, session), turns in self.turns.items():
            self._check_turns(bot, session, turns)

    def _check_turns(self, bot: str, session: str, turns: list[Turn]) -> None:
        """Each turn's question and reply were read, the reply strictly later, in order."""
        read = [
            r for (b, _), r in self.received["chats"].items() if b == bot and r["session_id"] == session
        ]  # fmt: skip
        sent = read[len(read) - 2 * len(turns) :]
        for turn, question, reply in zip(turns, sent[0::2], sent[1::2], strict=True):
            assert _said(question) == ("human", turn.question), f"{session}: question not read"
            assert _said(reply) == ("ai", turn.reply), f"{session}: reply not read after it"
            asked, answered = instant_of(question["created_at"]), instant_of(reply["created_at"])
            assert asked is not None and answered is not None and asked < answered, (
                f"{session}: the reply is not dated after its question"
            )


def _said(record: Mapping[str, Any]) -> tuple[Any, Any]:
    message = record.get("message") or {}
    return message.get("type"), (message.get("data") or {}).get("content")


class SendAndSyncMachine(RuleBasedStateMachine):
    """End users chat on several bots (new sessions, follow-ups in seeded and sent ones) between
    incremental syncs of both streams."""

    def __init__(self, server: MockServer) -> None:
        super().__init__()
        self.server = server
        self.client = httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
        )
        self.model = ChatModel()

    @initialize()
    def begin(self) -> None:
        self.server.reset()
        self.model = ChatModel.of(self.server)

    def _send(self, bot: str, text: str, session: str | None = None) -> None:
        body = {"message": text} | ({"chat_session_id": session} if session else {})
        response = self.client.post(f"/{bot}", json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        if session is not None:
            assert answer["chat_session_id"] == session
        self.model.sent(bot, text, answer)

    @rule(bot=st.sampled_from(BOTS), text=message_contents())
    def an_end_user_starts_a_conversation(self, bot: str, text: str) -> None:
        self._send(bot, text)

    @rule(data=st.data(), text=message_contents())
    def an_end_user_follows_up(self, data: st.DataObject, text: str) -> None:
        bot = data.draw(st.sampled_from(BOTS), label="bot")
        session = data.draw(st.sampled_from(sorted(self.model.sessions[bot])), label="session")
        self._send(bot, text, session)

    @precondition(lambda self: bool(self.model.sessions))
    @rule()
    def sync(self) -> None:
        for stream in ("leads", "chats"):
            result = run_sync(self.server, BOTS, stream=stream, state=self.model.states[stream])
            self.model.take(stream, result)
        self.model.check_everything_read()

    @invariant()
    def the_mock_holds_what_the_model_expects(self) -> None:
        if not self.model.sessions:
            return
        for bot in BOTS:
            listed = {lead["session_id"] for lead in self.server.leads(bot)}
            assert listed == set(self.model.sessions[bot]), f"{bot}: Get Leads lists other sessions"

    def teardown(self) -> None:
        """Every run ends with a sync, so even a run hypothesis made short checks what it sent."""
        try:
            if self.model.sessions:
                self.sync()
        finally:
            self.client.close()


def run_machine(server: MockServer, **overrides: Any) -> None:
    run_state_machine_as_test(
        lambda: SendAndSyncMachine(server),
        settings=settings(at_most(5), stateful_step_count=8, **overrides),
    )


def test_every_sent_message_is_read_once_and_bots_never_mix(server: MockServer) -> None:
    run_machine(server)


# Mutants: the same machine against a mock whose Send Message has one bug each


def lost_reply(mock: MockServer, bot_id: str, exchange: Exchange) -> None:
    """Records the question of a Send Message but not the reply it answered."""
    _rewrite_last_turn(mock, bot_id, exchange.session_id, lambda q, a: [q])


def reply_before_question(mock: MockServer, bot_id: str, exchange: Exchange) -> None:
    """Dates the reply a second before its question."""

    def backdate(question: dict[str, Any], answer: dict[str, Any]) -> list[dict[str, Any]]:
        asked = instant_of(question["created_at"])
        assert asked is not None
        moment = asked.timestamp() - 1
        stamp = datetime.fromtimestamp(moment, asked.tzinfo).isoformat(timespec="milliseconds")
        return [question, answer | {"created_at": stamp}]

    _rewrite_last_turn(mock, bot_id, exchange.session_id, backdate)


def session_under_another_bot(mock: MockServer, bot_id: str, exchange: Exchange) -> None:
    """Lists the session of every Send Message (started or followed up) under the next bot too:
    spoiling only new sessions left a run of follow-ups alone, so a random profile could miss it."""
    other = BOTS[(BOTS.index(bot_id) + 1) % len(BOTS)]
    created = exchange.question["created_at"]
    mock.append(
        other, leads=[exchange.lead or {"session_id": exchange.session_id, "created_at": created}]
    )


def _rewrite_last_turn(mock: MockServer, bot_id: str, session: str, change: Any) -> None:
    """Replace the session's last two stored messages (a turn) by `change(question, answer)`."""
    with mock._lock:
        log = mock._bots[bot_id]
        texts = log.messages[session]
        question, answer = (orjson.loads(t) for t in texts[-2:])
        rewritten = tuple(orjson.dumps(m) for m in change(question, answer))
        mock._bots[bot_id] = replace(
            log, messages={**log.messages, session: texts[:-2] + rewritten}
        )


@pytest.mark.parametrize("spoil", [lost_reply, reply_before_question, session_under_another_bot])
def test_a_broken_store_is_caught(
    server: MockServer, spoil: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Send Message records the exchange, then `spoil`s it; the machine must fail."""
    sound = server.send_message

    def broken(bot_id: str, message: str, session_id: str | None = None) -> Exchange:
        exchange = sound(bot_id, message, session_id)
        spoil(server, bot_id, exchange)
        return exchange

    monkeypatch.setattr(server, "send_message", broken)
    # The first failure is the proof: shrinking it would only cost time.
    with pytest.raises((AssertionError, Flaky)):
        run_machine(server, phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False)
