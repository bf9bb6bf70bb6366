"""Seeded chat history: deterministic, conforming to the spec's `Chat`, realistic conversations
after their lead; quirky on request; appended messages."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import chatnode_spec
from chatnode_spec import SpecRequest, SpecResponse
from mock_server.chats import MAX_GAP_MS, Conversations
from mock_server.seeded import parse_ms, spec_timestamp

LEAD_AT = "2024-06-30T17:32:53.518+00:00"
LEAD_MS = parse_ms(LEAD_AT)
MESSAGE_ID = re.compile(r"^[a-z0-9]{15}$")
SPEC_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")
SESSIONS = [f"s{i:03d}abc-{1719768767426 + i}" for i in range(300)]


def conversation(conversations: Conversations, session_id: str = "aki56d7-1719768767426") -> list:
    return conversations.session_messages("bot-alpha", session_id, LEAD_MS)


def many(conversations: Conversations, bot: str = "bot-alpha") -> list[dict]:
    return [m for s in SESSIONS for m in conversations.session_messages(bot, s, LEAD_MS)]


def body_of(conversations: Conversations, bot: str = "bot-alpha", n: int = 50) -> bytes:
    chunks = (conversations.session_chunk(bot, s, LEAD_MS) for s in SESSIONS[:n])
    return b"[" + b",".join(c for c in chunks if c) + b"]"


def assert_chats_body_matches_spec(body: bytes) -> None:
    """openapi-core's response validator accepts `body` as the 200 of POST /get-chats/{bot_id}."""
    request = SpecRequest(
        "POST", "/v1/get-chats/bot-alpha", headers=[("Authorization", "Bearer k")], body=b"[]"
    )
    response = SpecResponse.of(200, body, "application/json")
    chatnode_spec.openapi().validate_response(request, response)


def test_same_inputs_give_byte_identical_messages() -> None:
    conversations = Conversations(seed=0)
    assert body_of(conversations) == body_of(Conversations(seed=0))
    # Pinned digest: update deliberately when the data model changes, never to make a test pass.
    assert hashlib.sha256(body_of(conversations)).hexdigest() == PINNED_SHA256


PINNED_SHA256 = "d5a756a714de9b6ca461e6d282254e2c2f55e9375d2550c745fa7fa1cda8f3b4"


def test_seed_bot_and_session_each_change_the_conversation() -> None:
    base = body_of(Conversations(seed=1))
    assert base != body_of(Conversations(seed=2))
    assert base != body_of(Conversations(seed=1), bot="bot-beta")
    first, second = (conversation(Conversations(per_session=(5, 5)), s) for s in SESSIONS[:2])
    assert [m["id"] for m in first] != [m["id"] for m in second]


def test_messages_match_the_spec_and_its_example_forms() -> None:
    body = body_of(Conversations(per_session=(0, 12)), n=300)
    assert_chats_body_matches_spec(body)
    messages = orjson.loads(body)
    assert len(messages) > 1000
    schema = chatnode_spec.component_schema("Chat")
    assert all(list(m) == list(schema["properties"]) for m in messages)  # the spec's key order
    assert all(MESSAGE_ID.match(m["id"]) for m in messages)
    assert len({m["id"] for m in messages}) == len(messages)
    assert all(SPEC_TIMESTAMP.match(m["created_at"]) for m in messages)
    assert all(m["message"]["data"]["type"] == m["message"]["type"] for m in messages)


def test_the_fast_path_writes_exactly_what_orjson_would() -> None:
    messages = many(Conversations(per_session=(0, 12)))
    chunks = [
        Conversations(per_session=(0, 12)).session_chunk("bot-alpha", s, LEAD_MS) for s in SESSIONS
    ]
    assert orjson.dumps(messages) == b"[" + b",".join(c for c in chunks if c) + b"]"


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


class TestQuirks:
    """quirks=True: the same messages, as a loose API may send them."""

    quirky = Conversations(per_session=(2, 12), quirks=True)
    plain = Conversations(per_session=(2, 12))

    def test_quirks_are_deterministic(self) -> None:
        assert body_of(self.quirky) == body_of(Conversations(per_session=(2, 12), quirks=True))

    def test_same_messages_with_timestamps_in_every_form_at_the_same_instant(self) -> None:
        plain = {m["id"]: m for m in many(self.plain)}
        stamps = []
        for message in many(self.quirky):
            exact = datetime.fromisoformat(plain[message["id"]]["created_at"])
            shown = datetime.fromisoformat(message["created_at"])
            assert timedelta(0) <= exact - shown < timedelta(seconds=1) or timedelta(
                0
            ) <= shown - exact < timedelta(milliseconds=1)
            stamps.append(message["created_at"])
        assert set(plain) == {m["id"] for m in many(self.quirky)}
        digits = {len(m.group(1)) if m else 0 for m in (re.search(r"\.(\d+)", s) for s in stamps)}
        assert digits == set(range(7))
        assert any(s.endswith("Z") for s in stamps) and any(s.endswith("+00:00") for s in stamps)
        assert any(re.search(r"[+-](0[1-9]|1\d):\d\d$", s) for s in stamps)

    def test_unknown_fields_and_an_unexpected_type_appear_and_the_spec_still_holds(self) -> None:
        messages = many(self.quirky)
        known = set(chatnode_spec.component_schema("Chat")["properties"])
        assert any(set(m) - known for m in messages)
        types = Counter(m["message"]["type"] for m in messages)
        assert set(types) == {"human", "ai", "system"} and types["system"] < len(messages) / 10
        assert_chats_body_matches_spec(body_of(self.quirky, n=300))

    def test_messages_come_slightly_out_of_order(self) -> None:
        quirky = [m["id"] for m in many(self.quirky)]
        plain = [m["id"] for m in many(self.plain)]
        assert quirky != plain
        position = {message_id: i for i, message_id in enumerate(plain)}
        assert max(abs(position[m] - i) for i, m in enumerate(quirky)) < 4


class TestAppended:
    def test_a_seeded_message_of_the_type_asked_for_at_the_time_given(self) -> None:
        conversations = Conversations(seed=3)
        at = LEAD_MS + 10_000_000
        human = conversations.appended("bot-alpha", "s1", 0, at, None, "human")
        assert human == conversations.appended("bot-alpha", "s1", 0, at, None, "human")
        assert human["created_at"] == spec_timestamp(at) and MESSAGE_ID.match(human["id"])
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
