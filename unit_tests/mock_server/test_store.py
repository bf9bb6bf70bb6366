"""The runtime lead store: appends, replacements, new bots, resets, concurrent use."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from mock_server.config import MockConfig
from mock_server.data import leads_for_bot, parse_chunks, parse_ms
from mock_server.store import BotLeads, Store


def stamp(lead: dict) -> datetime:
    return datetime.fromisoformat(lead["created_at"])


@pytest.fixture
def store() -> Store:
    return Store(MockConfig(bots=("a", "b"), leads_per_bot=30, seed=5))


def test_starts_with_the_seeded_leads(store: Store) -> None:
    assert store.leads("a") == list(leads_for_bot(5, "a", 30))
    assert list(store.bots()) == ["a", "b"]


def test_appended_leads_come_after_every_existing_one_and_are_new(store: Store) -> None:
    before = store.leads("a")
    added = store.append("a", count=40)
    assert len(added) == 40 and store.leads("a") == before + added
    assert min(map(stamp, added)) > max(map(stamp, before))
    assert {x["session_id"] for x in added}.isdisjoint(x["session_id"] for x in before)
    again = store.append("a", count=5)
    assert min(map(stamp, again)) > max(map(stamp, added))


def test_appended_leads_start_after_every_message_of_the_bot() -> None:
    """A new conversation begins after all earlier activity, as it would between two syncs: so
    no message of a new lead can be dated before a cursor saved on the older messages."""
    store = Store(MockConfig(bots=("a",), leads_per_bot=20, seed=5, messages_per_session=(8, 8)))
    sessions = [lead["session_id"] for lead in store.leads("a")]
    last_message = max(parse_ms(m["created_at"]) for m in store.chats("a", sessions))
    follow_up = store.append_message("a", sessions[0], content="still there?")
    (added,) = store.append("a", count=1)
    assert parse_ms(added["created_at"]) > max(last_message, parse_ms(follow_up["created_at"]))


def test_raw_leads_are_served_verbatim_even_when_non_conforming(store: Store) -> None:
    raw = [{"session_id": "no-created-at"}, {"session_id": "x", "created_at": "not a date"}]
    assert store.append("b", leads=raw) == raw
    assert store.leads("b")[-2:] == raw
    assert not store.snapshot("b").leads.conforming  # type: ignore[union-attr]


def test_generated_after_raw_leads_still_come_later(store: Store) -> None:
    store.append("a", leads=[{"session_id": "late", "created_at": "2031-01-01T00:00:00+00:00"}])
    (added,) = store.append("a", count=1)
    assert stamp(added) > datetime.fromisoformat("2031-01-01T00:00:00+00:00")


def test_set_leads_replaces(store: Store) -> None:
    store.set_leads("a", [{"session_id": "only"}])
    assert store.leads("a") == [{"session_id": "only"}]
    store.set_leads("a", count=3)
    assert store.leads("a") == list(leads_for_bot(5, "a", 3))


def test_add_bot_and_reset(store: Store) -> None:
    store.add_bot("c", count=2)
    store.add_bot("d")
    store.add_bot("e", leads=[{"session_id": "e1", "created_at": "2024-01-01T00:00:00Z"}])
    assert len(store.leads("c")) == 2 and store.leads("d") == [] and len(store.leads("e")) == 1
    with pytest.raises(KeyError, match="already exists"):
        store.add_bot("a")
    store.append("a", count=3)
    store.reset()
    assert list(store.bots()) == ["a", "b"] and len(store.leads("a")) == 30


@pytest.mark.parametrize("call", ["append", "set_leads", "add_bot"])
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"count": 1, "leads": []}, "exactly one"),
        ({"count": -1}, "whole number"),
        ({"count": True}, "whole number"),
        ({"leads": "x"}, "must be a list"),
    ],
)
def test_every_caller_checks_count_or_leads_alike_and_changes_nothing(
    store: Store, call: str, arguments: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        getattr(store, call)("new" if call == "add_bot" else "a", **arguments)
    assert list(store.bots()) == ["a", "b"] and store.leads("a") == list(leads_for_bot(5, "a", 30))


def test_unknown_bot_is_a_key_error_naming_the_known_ones(store: Store) -> None:
    with pytest.raises(KeyError, match="known bots"):
        store.append("zzz", count=1)


def test_concurrent_appends_lose_nothing(store: Store) -> None:
    def worker() -> None:
        for _ in range(25):
            store.append("a", count=2)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    leads = store.leads("a")
    assert len(leads) == 30 + 4 * 25 * 2
    assert len({x["session_id"] for x in leads}) == len(leads)


def test_quirks_and_seed_reach_generated_and_appended_leads() -> None:
    store = Store(MockConfig(bots=("a",), leads_per_bot=3, seed=5, quirks=True))
    assert store.leads("a") == list(leads_for_bot(5, "a", 3, quirks=True))
    spec_fields = {"session_id", "created_at", "enduser_name", "enduser_email", "enduser_phone",
                   "for_agent"}  # fmt: skip
    assert any(set(lead) - spec_fields for lead in store.append("a", count=50))


def test_a_snapshot_is_unaffected_by_later_changes(store: Store) -> None:
    snapshot = store.snapshot("a").leads  # type: ignore[union-attr]
    store.append("a", count=10)
    assert snapshot.count == 30 and len(parse_chunks(snapshot.element_chunks())) == 30


class TestChats:
    """Each lead's session has its conversation; tests append messages to sessions."""

    @pytest.fixture
    def store(self) -> Store:
        return Store(
            MockConfig(bots=("a", "b"), leads_per_bot=30, seed=5, messages_per_session=(1, 6))
        )

    def test_a_session_serves_its_generated_conversation(self, store: Store) -> None:
        lead = store.leads("a")[3]
        expected = store.conversations.session_messages("a", lead["session_id"], stamp_ms(lead))
        assert store.chats("a", [lead["session_id"]]) == expected and expected

    def test_ids_are_served_once_each_in_request_order_and_unknown_ones_add_nothing(
        self, store: Store
    ) -> None:
        first, second = (lead["session_id"] for lead in store.leads("a")[:2])
        other_bot = store.leads("b")[0]["session_id"]
        served = store.chats("a", [second, "nope", first, second, other_bot])
        assert [m["session_id"] for m in served] == sorted(
            [m["session_id"] for m in served], key=[second, first].index
        )
        assert {m["session_id"] for m in served} == {first, second}
        assert store.chats("a", ["nope", other_bot]) == []

    def test_without_ids_the_k_most_recent_sessions_answer(self, store: Store) -> None:
        newest = [lead["session_id"] for lead in store.leads("a")][-3:]
        assert store.chats("a", None, k=3) == store.chats("a", newest)
        assert store.chats("a", None, k=0) == []
        assert len({m["session_id"] for m in store.chats("a", None, k=100)}) == 30

    def test_an_appended_message_is_served_last_and_later_than_everything(
        self, store: Store
    ) -> None:
        session = store.leads("a")[0]["session_id"]
        everything = store.chats("a", None, k=1000)
        added = store.append_message("a", session, content="Any news? 🙂", type="human")
        assert store.chats("a", [session])[-1] == added
        assert added["message"] == {
            "data": {"type": "human", "content": "Any news? 🙂"},
            "type": "human",
        }
        assert stamp(added) > max(map(stamp, everything))
        again = store.append_message("a", session, type="ai")
        assert stamp(again) > stamp(added) and again["message"]["type"] == "ai"
        assert again["message"]["data"]["content"]  # a seeded answer
        assert store.chats("a", [session])[-2:] == [added, again]

    def test_an_appended_message_is_later_than_leads_appended_before_it(self, store: Store) -> None:
        (new_lead,) = store.append("a", count=1)
        newest_generated = max(map(stamp, store.chats("a", [new_lead["session_id"]])), default=None)
        added = store.append_message("a", store.leads("a")[0]["session_id"])
        assert stamp(added) > stamp(new_lead)
        assert newest_generated is None or stamp(added) > newest_generated

    def test_raw_messages_are_served_verbatim(self, store: Store) -> None:
        session = store.leads("b")[0]["session_id"]
        raw = {"message": {"type": "ai"}, "session_id": session, "created_at": "later"}
        assert store.append_message("b", session, raw=raw) == raw
        assert store.chats("b", [session])[-1] == raw
        assert not store.snapshot("b").conforming  # type: ignore[union-attr]
        assert store.snapshot("a").conforming  # type: ignore[union-attr]

    def test_only_sessions_of_the_bots_leads_take_messages(self, store: Store) -> None:
        with pytest.raises(KeyError, match="no lead with session_id 'nope'"):
            store.append_message("a", "nope")
        with pytest.raises(KeyError, match="no bot 'zzz'"):
            store.append_message("zzz", "nope")
        with pytest.raises(ValueError, match="content= or raw="):
            store.append_message("a", store.leads("a")[0]["session_id"], content="x", raw={})

    def test_replacing_leads_or_resetting_drops_appended_messages(self, store: Store) -> None:
        session = store.leads("a")[0]["session_id"]
        added = store.append_message("a", session)
        store.append("a", count=2)  # appending leads keeps them
        assert store.chats("a", [session])[-1] == added
        store.reset()
        assert added not in store.chats("a", [session])
        second = store.append_message("a", session)
        store.set_leads("a", count=30)  # the same seeded leads, so the same sessions
        assert second not in store.chats("a", [session]) and store.chats("a", [session])

    def test_raw_leads_have_conversations_when_their_created_at_names_an_instant(
        self, store: Store
    ) -> None:
        store.set_leads("a", [
            {"session_id": "timed", "created_at": "2024-06-30T17:32:53Z"},
            {"session_id": "untimed", "created_at": "yesterday"},
            {"created_at": "2024-06-30T17:32:53Z"},
        ])  # fmt: skip
        assert store.chats("a", ["timed"])
        assert store.chats("a", ["untimed"]) == []
        assert store.append_message("a", "untimed") in store.chats("a", ["untimed"])
        assert store.chats("a", None, k=10) == store.chats("a", ["timed"])

    def test_the_session_lookup_is_built_once_per_version_of_the_leads(self, store: Store) -> None:
        snapshot = store.snapshot("a")
        assert snapshot is not None
        assert snapshot.leads.sessions is snapshot.leads.sessions
        store.append_message("a", store.leads("a")[0]["session_id"])
        assert store.snapshot("a").leads.sessions is snapshot.leads.sessions  # type: ignore[union-attr]
        store.append("a", count=1)
        changed = store.snapshot("a").leads  # type: ignore[union-attr]
        assert changed.sessions is not snapshot.leads.sessions and len(changed.sessions) == 31

    def test_concurrent_appends_lose_nothing(self, store: Store) -> None:
        session = store.leads("a")[0]["session_id"]
        before = len(store.chats("a", [session]))

        def worker() -> None:
            for _ in range(25):
                store.append_message("a", session)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        messages = store.chats("a", [session])
        assert len(messages) == before + 100 and len({m["id"] for m in messages}) == len(messages)
        appended = [stamp(m) for m in messages[before:]]
        assert appended == sorted(appended) and len(set(appended)) == 100


def stamp_ms(lead: dict) -> int:
    return parse_ms(lead["created_at"])


def test_a_session_index_handed_down_by_send_message_equals_one_rebuilt() -> None:
    store = Store(MockConfig(bots=["b"], leads_per_bot=50, seed=1))
    store.send_message("b", "hi")  # builds the index of the first version
    for text in ("one", "two"):
        store.send_message("b", text)
    store.append("b", count=3)
    leads = store.snapshot("b").leads  # type: ignore[union-attr]
    assert "sessions" in leads.__dict__
    rebuilt = BotLeads(leads.bot_id, leads.segments)
    assert list(leads.sessions.items()) == list(rebuilt.sessions.items())
    assert len(leads.sessions) == 56


def test_send_message_records_both_turns_atomically_with_a_second_writer() -> None:
    store = Store(MockConfig(bots=["b"], leads_per_bot=3, seed=2))
    session = store.leads("b")[0]["session_id"]
    exchange = store.send_message("b", "hello", session)
    store.append_message("b", session, content="after")
    tail = store.chats("b", [session])[-3:]
    assert tail[:2] == [exchange.question, exchange.answer]
    assert tail[2]["message"]["data"]["content"] == "after"
    assert exchange.lead is None and exchange.session_id == session
