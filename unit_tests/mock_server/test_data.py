"""The seeded data of both streams: deterministic per seed, realistic, conforming to the spec
(or quirky on request, through the one quirk function both streams share), timestamps exact."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import chatnode_spec
from chatnode_spec import SpecRequest, SpecResponse
from mock_server.data import (
    ALNUM3,
    ALNUM4,
    CHUNK_SIZE,
    LEAD_QUIRKS,
    MAX_GAP_MS,
    Conversations,
    Timeline,
    base_timeline,
    lead_chunks,
    leads_for_bot,
    parse_ms,
    quirk_timestamp,
    spec_timestamp,
)
from mock_server.responses import json_array

# Pinned digests: the bodies must not change across runs, machines or Python versions. Update
# deliberately when the data model changes, never to make a test pass.
LEADS_SHA256 = "66cb98a7d9d3f2925e9512930bbe1977d804b55f9de5d70f591e2c046d68d9b7"
CHATS_SHA256 = "d5a756a714de9b6ca461e6d282254e2c2f55e9375d2550c745fa7fa1cda8f3b4"

SESSION_ID = re.compile(r"^[a-z0-9]{7}-\d{13}$")
SPEC_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")
MS = st.integers(0, 4_102_444_800_000)  # 1970 to 2100
LEAD_AT = "2024-06-30T17:32:53.518+00:00"
LEAD_MS = parse_ms(LEAD_AT)
MESSAGE_ID = re.compile(r"^[a-z0-9]{15}$")
SESSIONS = [f"s{i:03d}abc-{1719768767426 + i}" for i in range(300)]


def in_spec_form(stamp: str) -> bool:
    """The spec example's form, `2024-06-30T17:32:53.518+00:00`, exactly as `spec_timestamp`
    writes the instant (so the hot loops' table lookups agree with it)."""
    return bool(SPEC_TIMESTAMP.match(stamp)) and spec_timestamp(parse_ms(stamp)) == stamp


def assert_body_matches_spec(path: str, body: bytes) -> None:
    """openapi-core's response validator accepts `body` as the 200 of `POST path`."""
    request = SpecRequest("POST", path, headers=[("Authorization", "Bearer k")], body=b"[]")
    response = SpecResponse.of(200, body, "application/json")
    chatnode_spec.openapi().validate_response(request, response)


# --- Both streams: determinism and every quirk kind -------------------------------------------


def lead_records(seed: int, quirks: bool, bot: str = "bot-alpha") -> list[dict[str, Any]]:
    return list(leads_for_bot(seed, bot, 3000, quirks=quirks))


def chat_records(seed: int, quirks: bool, bot: str = "bot-alpha") -> list[dict[str, Any]]:
    return many(Conversations(seed=seed, per_session=(2, 12), quirks=quirks), bot)


def lead_body(seed: int) -> bytes:
    return body(seed, "bot-alpha", 3000)


def chat_body(seed: int) -> bytes:
    return body_of(Conversations(seed=seed, per_session=(2, 12)), n=len(SESSIONS))


Records = Callable[..., list[dict[str, Any]]]
STREAMS: dict[str, tuple[Records, Callable[[int], bytes], str, str, int]] = {
    "leads": (lead_records, lead_body, "session_id", "Conversation", 8),
    "chats": (chat_records, chat_body, "id", "Chat", 4),
}
"""Stream -> (its records as dicts for (seed, quirks[, bot]), its conforming body as bytes for a
seed, its key, its spec schema, its shuffle window)."""


@pytest.mark.parametrize("stream", STREAMS)
@pytest.mark.parametrize("quirks", [False, True])
def test_records_are_deterministic_per_seed_and_bot(stream: str, quirks: bool) -> None:
    records, _, key, _, _ = STREAMS[stream]
    first = records(7, quirks)
    assert orjson.dumps(first) == orjson.dumps(records(7, quirks))
    for other in (records(8, quirks), records(7, quirks, "bot-beta")):
        assert {r[key] for r in first}.isdisjoint(r[key] for r in other)


@pytest.mark.parametrize("stream", STREAMS)
def test_the_fast_path_writes_exactly_what_orjson_would(stream: str) -> None:
    records, stream_body, _, _, _ = STREAMS[stream]
    assert orjson.dumps(records(3, False)) == stream_body(3)


def test_bodies_are_pinned() -> None:
    assert hashlib.sha256(body(0, "bot-alpha", 50)).hexdigest() == LEADS_SHA256
    assert hashlib.sha256(body_of(Conversations(seed=0))).hexdigest() == CHATS_SHA256


@pytest.mark.parametrize("stream", STREAMS)
def test_every_quirk_kind_appears_at_the_same_instants(stream: str) -> None:
    records, _, key, schema, window = STREAMS[stream]
    plain, quirky = records(0, False), records(0, True)
    stamps = [r["created_at"] for r in quirky]
    digits = {len(m.group(1)) if m else 0 for m in (re.search(r"\.(\d+)", s) for s in stamps)}
    assert digits == set(range(7)), "0-6 fraction digits"
    assert any(s.endswith("Z") for s in stamps) and any(s.endswith("+00:00") for s in stamps)
    assert any(re.search(r"[+-](0[1-9]|1\d):\d\d$", s) for s in stamps), "a non-UTC offset"
    known = set(chatnode_spec.component_schema(schema)["properties"])
    assert any(set(r) - known for r in quirky), "an unknown field"
    assert any(value is None for r in quirky for value in r.values()), "a null field"
    exact = {r[key]: parse_ms(r["created_at"]) for r in plain}
    assert all(exact[r[key]] - 1000 < parse_ms(r["created_at"]) <= exact[r[key]] for r in quirky)
    order = [r[key] for r in quirky]
    position = {k: i for i, k in enumerate(r[key] for r in plain)}
    assert sorted(order) == sorted(position) and order != list(position), "locally out of order"
    assert max(abs(position[k] - i) for i, k in enumerate(order)) < window


# --- Timestamps -----------------------------------------------------------------------------


@given(MS, st.integers(0, 999), st.integers(0, 6), st.integers(0, 255))
def test_quirk_forms_name_the_same_instant_up_to_the_digits_shown(
    ms: int, micro: int, digits: int, offset_pick: int
) -> None:
    shown = parse_ms(quirk_timestamp(ms, micro, digits, offset_pick))
    assert ms - 1000 < shown <= ms


def test_parse_ms_is_exact_where_floats_are_not() -> None:
    assert parse_ms("2024-06-30T17:32:53.518+00:00") == 1_719_768_773_518
    assert parse_ms("2024-06-30T19:32:53.518999+02:00") == 1_719_768_773_518
    assert parse_ms("2024-06-30T17:32:53Z") == 1_719_768_773_000


def test_a_timestamp_without_an_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="no offset"):
        parse_ms("2024-06-30T17:32:53.518")


def test_id_tables_hold_distinct_lowercase_alphanumerics() -> None:
    for table, width, distinct in ((ALNUM4, 4, 65536), (ALNUM3, 3, 36**3)):
        assert len(table) == 65536 and len(set(table)) == distinct
        assert all(len(s) == width and s.isalnum() and s == s.lower() for s in table)


# --- Leads ----------------------------------------------------------------------------------


def body(seed: int, bot: str, count: int, **kwargs: object) -> bytes:
    return b"".join(json_array(lead_chunks(seed, bot, count, **kwargs)))  # type: ignore[arg-type]


def test_body_is_a_json_array_of_the_requested_count() -> None:
    for count in (0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2500):
        assert len(orjson.loads(body(0, "b", count))) == count
    assert body(0, "b", 0) == b"[]"


def test_conforming_leads_match_the_spec_and_its_example_forms() -> None:
    leads_body = body(0, "bot-alpha", 2000)
    assert_body_matches_spec("/v1/get-conversation-ids/bot-alpha", leads_body)
    leads = orjson.loads(leads_body)
    assert all(SESSION_ID.match(lead["session_id"]) for lead in leads)
    assert all(in_spec_form(lead["created_at"]) for lead in leads)


def test_leads_look_real_and_vary() -> None:
    leads = list(leads_for_bot(0, "bot-alpha", 2000))
    assert len({lead["session_id"] for lead in leads}) == 2000
    for key in ("enduser_name", "enduser_email", "enduser_phone", "for_agent"):
        present = sum(key in lead for lead in leads)
        assert 0 < present < 2000, f"{key} should be sometimes present, sometimes absent"
    assert {lead.get("for_agent") for lead in leads} >= {True, False}
    emails = [lead["enduser_email"] for lead in leads if "enduser_email" in lead]
    assert all(re.match(r"^[a-z0-9._]+@[a-z0-9.-]+\.[a-z]+$", e) for e in emails)
    phones = [lead["enduser_phone"] for lead in leads if "enduser_phone" in lead]
    assert all(re.match(r"^\+[1-9]\d{9,13}$", p) for p in phones)
    names = [lead["enduser_name"] for lead in leads if "enduser_name" in lead]
    assert len(set(names)) > 500 and all(" " in n for n in names)


def test_created_at_ascends_and_spreads_over_months() -> None:
    stamps = [datetime.fromisoformat(x["created_at"]) for x in leads_for_bot(0, "bot-a", 1000)]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert stamps[-1] - stamps[0] > timedelta(days=300)


def test_session_id_carries_a_session_start_just_before_the_lead() -> None:
    for lead in leads_for_bot(0, "bot-alpha", 500):
        started_ms = int(lead["session_id"].split("-")[1])
        created_ms = parse_ms(lead["created_at"])
        assert 0 < created_ms - started_ms < 120_000


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    total=st.integers(0, 2 * CHUNK_SIZE + 10),
    cut=st.integers(0, 2 * CHUNK_SIZE + 10),
)
@example(seed=0, total=2 * CHUNK_SIZE, cut=CHUNK_SIZE)
def test_generating_in_pieces_gives_the_same_leads(seed: int, total: int, cut: int) -> None:
    cut = min(cut, total)
    timeline = Timeline(1_700_000_000_000, 60_000)
    whole = list(leads_for_bot(seed, "bot", total, timeline=timeline))
    rest = Timeline(timeline.start_ms + cut * timeline.gap_ms, timeline.gap_ms)
    pieces = list(leads_for_bot(seed, "bot", cut, timeline=timeline)) + list(
        leads_for_bot(seed, "bot", total - cut, start_index=cut, timeline=rest)
    )
    assert pieces == whole


def test_timeline_end_is_after_every_lead() -> None:
    timeline = base_timeline(0, "bot", 300)
    last = max(parse_ms(x["created_at"]) for x in leads_for_bot(0, "bot", 300))
    assert last < timeline.end_ms(300)


def test_chunks_never_hold_more_than_one_chunk_of_leads() -> None:
    sizes = [chunk.count(b'"session_id"') for chunk in lead_chunks(0, "bot", 5000)]
    assert max(sizes) == CHUNK_SIZE and sum(sizes) == 5000


def test_quirky_leads_have_absent_optional_fields_both_missing_and_null() -> None:
    leads = list(leads_for_bot(0, "bot-alpha", 3000, quirks=True))
    for key in LEAD_QUIRKS.optional:
        assert any(key in x and x[key] is None for x in leads), f"{key} never null"
        assert any(key not in x for x in leads), f"{key} never missing"


# --- Chats ----------------------------------------------------------------------------------


def conversation(conversations: Conversations, session_id: str = "aki56d7-1719768767426") -> list:
    return conversations.session_messages("bot-alpha", session_id, LEAD_MS)


def many(conversations: Conversations, bot: str = "bot-alpha") -> list[dict]:
    return [m for s in SESSIONS for m in conversations.session_messages(bot, s, LEAD_MS)]


def body_of(conversations: Conversations, bot: str = "bot-alpha", n: int = 50) -> bytes:
    chunks = (conversations.session_chunk(bot, s, LEAD_MS) for s in SESSIONS[:n])
    return b"[" + b",".join(c for c in chunks if c) + b"]"


def test_messages_match_the_spec_and_its_example_forms() -> None:
    body = body_of(Conversations(per_session=(0, 12)), n=300)
    assert_body_matches_spec("/v1/get-chats/bot-alpha", body)
    messages = orjson.loads(body)
    assert len(messages) > 1000
    schema = chatnode_spec.component_schema("Chat")
    assert all(list(m) == list(schema["properties"]) for m in messages)  # the spec's key order
    assert all(MESSAGE_ID.match(m["id"]) for m in messages)
    assert len({m["id"] for m in messages}) == len(messages), "ids repeat across sessions"
    assert all(in_spec_form(m["created_at"]) for m in messages)
    assert all(m["message"]["data"]["type"] == m["message"]["type"] for m in messages)


def test_a_conversation_alternates_human_and_ai_starting_with_the_visitor() -> None:
    conversations = Conversations(per_session=(1, 9))
    for session_id in SESSIONS[:100]:
        types = [m["message"]["type"] for m in conversation(conversations, session_id)]
        assert types == ["human", "ai"] * (len(types) // 2) + ["human"] * (len(types) % 2)


def test_every_message_is_later_than_its_lead_and_the_one_before_it() -> None:
    conversations = Conversations(per_session=(0, 20))
    lead = datetime.fromisoformat(LEAD_AT)
    for session_id in SESSIONS:
        stamps = [
            datetime.fromisoformat(m["created_at"]) for m in conversation(conversations, session_id)
        ]
        assert all(b > a for a, b in zip([lead, *stamps], stamps, strict=False))
        if stamps:
            assert stamps[-1] - lead <= timedelta(milliseconds=conversations.span_ms)
            assert all(
                m["session_id"] == session_id for m in conversation(conversations, session_id)
            )


@settings(max_examples=25, deadline=None)
@given(low=st.integers(0, 30), spread=st.integers(0, 30), seed=st.integers(0, 2**32))
@example(low=0, spread=0, seed=0)
@example(low=100, spread=0, seed=0)
def test_counts_stay_within_the_configured_range(low: int, spread: int, seed: int) -> None:
    conversations = Conversations(seed=seed, per_session=(low, low + spread))
    counts = [len(conversation(conversations, s)) for s in SESSIONS[:20]]
    assert all(low <= c <= low + spread for c in counts)
    assert counts == [conversations.count("bot-alpha", s) for s in SESSIONS[:20]]


def test_counts_spread_over_the_range() -> None:
    counts = Counter(Conversations().count("bot-alpha", s) for s in SESSIONS)
    assert set(counts) == set(range(9))


def test_texts_are_realistic_and_varied() -> None:
    contents = [m["message"]["data"]["content"] for m in many(Conversations(per_session=(2, 12)))]
    assert len(set(contents)) > 40
    assert "" in contents
    assert any("\n" in c for c in contents)
    assert any(any(ord(ch) > 0x1F000 for ch in c) for c in contents), "no emoji"
    assert any(any("À" <= ch <= "ÿ" for ch in c) for c in contents), "no accented letters"
    assert any(any("\u3040" <= ch <= "\u30ff" for ch in c) for c in contents), "no Japanese"
    assert any("pric" in c.lower() or "$" in c for c in contents)
    assert any("demo" in c.lower() for c in contents)


def test_gaps_between_messages_are_seconds_to_minutes() -> None:
    messages = conversation(Conversations(per_session=(200, 200)))
    stamps = [parse_ms(m["created_at"]) for m in messages]
    gaps = [b - a for a, b in pairwise(stamps)]
    assert min(gaps) >= 1000 and max(gaps) < MAX_GAP_MS
    assert max(gaps) > 60_000


@pytest.mark.parametrize("per_session", [(-1, 3), (4, 3), (0, 10_001)])
def test_an_impossible_range_is_refused(per_session: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="messages per session"):
        Conversations(per_session=per_session)


def test_quirky_chats_rarely_carry_a_system_message_and_still_match_the_spec() -> None:
    quirky = Conversations(per_session=(2, 12), quirks=True)
    types = Counter(m["message"]["type"] for m in many(quirky))
    assert set(types) == {"human", "ai", "system"} and types["system"] < types.total() / 10
    assert_body_matches_spec("/v1/get-chats/bot-alpha", body_of(quirky, n=300))


class TestAppended:
    def test_a_seeded_message_of_the_type_asked_for_at_the_time_given(self) -> None:
        conversations = Conversations(seed=3)
        at = LEAD_MS + 10_000_000
        human = conversations.appended("bot-alpha", "s1", 0, at, None, "human")
        assert human == conversations.appended("bot-alpha", "s1", 0, at, None, "human")
        assert human["created_at"] == spec_timestamp(at) and in_spec_form(human["created_at"])
        assert parse_ms(human["created_at"]) == at and MESSAGE_ID.match(human["id"])
        assert human["message"]["type"] == "human" and human["session_id"] == "s1"
        ai = conversations.appended("bot-alpha", "s1", 1, at, "Hi 👋\nthere", "ai")
        assert ai["message"] == {"data": {"type": "ai", "content": "Hi 👋\nthere"}, "type": "ai"}
        assert ai["id"] != human["id"]
        odd = conversations.appended("bot-alpha", "s1", 2, at, None, "note")
        assert odd["message"]["type"] == odd["message"]["data"]["type"] == "note"

    def test_with_quirks_it_comes_in_a_quirk_form_at_the_same_instant(self) -> None:
        at = LEAD_MS + 10_000_000
        forms = {
            Conversations(seed=s, quirks=True).appended("b", "s", 0, at, "x", "human")["created_at"]
            for s in range(40)
        }
        assert len(forms) > 5
        assert all(abs(parse_ms(f) - at) < 1000 for f in forms)
