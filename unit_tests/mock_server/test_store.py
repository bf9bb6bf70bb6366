"""The runtime lead store: appends, replacements, new bots, resets, concurrent use."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from mock_server.data import leads_for_bot
from mock_server.store import LeadStore


def stamp(lead: dict) -> datetime:
    return datetime.fromisoformat(lead["created_at"])


@pytest.fixture
def store() -> LeadStore:
    return LeadStore(("a", "b"), 30, seed=5)


def test_starts_with_the_seeded_leads(store: LeadStore) -> None:
    assert store.leads("a") == list(leads_for_bot(5, "a", 30))
    assert store.bot_ids() == ["a", "b"]


def test_appended_leads_come_after_every_existing_one_and_are_new(store: LeadStore) -> None:
    before = store.leads("a")
    added = store.append("a", count=40)
    assert len(added) == 40 and store.leads("a") == before + added
    assert min(map(stamp, added)) > max(map(stamp, before))
    assert {x["session_id"] for x in added}.isdisjoint(x["session_id"] for x in before)
    again = store.append("a", count=5)
    assert min(map(stamp, again)) > max(map(stamp, added))


def test_raw_leads_are_served_verbatim_even_when_non_conforming(store: LeadStore) -> None:
    raw = [{"session_id": "no-created-at"}, {"session_id": "x", "created_at": "not a date"}]
    assert store.append("b", leads=raw) == raw
    assert store.leads("b")[-2:] == raw
    assert store.snapshot("b").has_raw  # type: ignore[union-attr]


def test_generated_after_raw_leads_still_come_later(store: LeadStore) -> None:
    store.append("a", leads=[{"session_id": "late", "created_at": "2031-01-01T00:00:00+00:00"}])
    (added,) = store.append("a", count=1)
    assert stamp(added) > datetime.fromisoformat("2031-01-01T00:00:00+00:00")


def test_set_leads_replaces(store: LeadStore) -> None:
    store.set_leads("a", [{"session_id": "only"}])
    assert store.leads("a") == [{"session_id": "only"}]
    store.set_leads("a", count=3)
    assert store.leads("a") == list(leads_for_bot(5, "a", 3))


def test_add_bot_and_reset(store: LeadStore) -> None:
    store.add_bot("c", count=2)
    store.add_bot("d")
    store.add_bot("e", leads=[{"session_id": "e1", "created_at": "2024-01-01T00:00:00Z"}])
    assert len(store.leads("c")) == 2 and store.leads("d") == [] and len(store.leads("e")) == 1
    with pytest.raises(KeyError, match="already exists"):
        store.add_bot("a")
    store.append("a", count=3)
    store.reset()
    assert store.bot_ids() == ["a", "b"] and len(store.leads("a")) == 30


@pytest.mark.parametrize("call", ["append", "set_leads"])
def test_count_and_leads_are_exclusive(store: LeadStore, call: str) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        getattr(store, call)("a", count=1, leads=[])


def test_unknown_bot_is_a_key_error_naming_the_known_ones(store: LeadStore) -> None:
    with pytest.raises(KeyError, match="known bots"):
        store.append("zzz", count=1)


def test_concurrent_appends_lose_nothing(store: LeadStore) -> None:
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
    store = LeadStore(("a",), 3, seed=5, quirks=True)
    assert store.leads("a") == list(leads_for_bot(5, "a", 3, quirks=True))
    spec_fields = {"session_id", "created_at", "enduser_name", "enduser_email", "enduser_phone",
                   "for_agent"}  # fmt: skip
    assert any(set(lead) - spec_fields for lead in store.append("a", count=50))


def test_a_snapshot_is_unaffected_by_later_changes(store: LeadStore) -> None:
    snapshot = store.snapshot("a")
    store.append("a", count=10)
    assert snapshot is not None and snapshot.count == 30 and len(snapshot.materialize()) == 30
