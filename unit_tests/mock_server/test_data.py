"""Seeded lead generation: deterministic, realistic, conforming (or quirky on request)."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS30Validator

import chatnode_spec
from mock_server.data import (
    CHUNK_SIZE,
    Timeline,
    base_timeline,
    json_array,
    lead_body_chunks,
    lead_chunks,
    leads_for_bot,
)

SESSION_ID = re.compile(r"^[a-z0-9]{7}-\d{13}$")
SPEC_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


def body(seed: int, bot: str, count: int, **kwargs: object) -> bytes:
    return b"".join(lead_body_chunks(seed, bot, count, **kwargs))  # type: ignore[arg-type]


def test_same_seed_gives_byte_identical_body() -> None:
    first = body(7, "bot-alpha", 3000)
    assert first == body(7, "bot-alpha", 3000)
    # Pinned digest: the body must not change across runs, machines or Python versions.
    # Update deliberately when the data model changes, never to make a test pass.
    assert hashlib.sha256(body(0, "bot-alpha", 50)).hexdigest() == PINNED_SHA256


PINNED_SHA256 = "66cb98a7d9d3f2925e9512930bbe1977d804b55f9de5d70f591e2c046d68d9b7"


def test_different_seed_or_bot_gives_different_leads() -> None:
    base = body(1, "bot-alpha", 200)
    assert base != body(2, "bot-alpha", 200)
    assert base != body(1, "bot-beta", 200)
    ids = {lead["session_id"] for lead in leads_for_bot(1, "bot-alpha", 200)}
    assert ids.isdisjoint(lead["session_id"] for lead in leads_for_bot(2, "bot-alpha", 200))


def test_body_is_a_json_array_of_the_requested_count() -> None:
    for count in (0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2500):
        assert len(orjson.loads(body(0, "b", count))) == count
    assert body(0, "b", 0) == b"[]"


def test_json_array_joins_chunks_and_skips_empty_ones() -> None:
    assert b"".join(json_array([])) == b"[]"
    assert b"".join(json_array([b"", b'{"a":1},{"b":2}', b"", b"3"])) == b'[{"a":1},{"b":2},3]'


def test_dicts_and_bytes_are_the_same_leads() -> None:
    # The fast path writes JSON by hand; it must be exactly what orjson would write.
    leads = list(leads_for_bot(3, "bot-alpha", 1500))
    assert orjson.dumps(leads) == body(3, "bot-alpha", 1500)


def test_conforming_leads_match_the_spec_schema() -> None:
    validator = OAS30Validator(
        {"type": "array", "items": chatnode_spec.component_schema("Conversation")},
        format_checker=OAS30Validator.FORMAT_CHECKER,
    )
    leads = list(leads_for_bot(0, "bot-alpha", 2000))
    validator.validate(leads)
    assert all(SESSION_ID.match(lead["session_id"]) for lead in leads)
    assert all(SPEC_TIMESTAMP.match(lead["created_at"]) for lead in leads)


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
        created_ms = datetime.fromisoformat(lead["created_at"]).timestamp() * 1000
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
    last = max(datetime.fromisoformat(x["created_at"]) for x in leads_for_bot(0, "bot", 300))
    assert last.timestamp() * 1000 < timeline.end_ms(300)


def test_chunks_never_hold_more_than_one_chunk_of_leads() -> None:
    sizes = [chunk.count(b'"session_id"') for chunk in lead_chunks(0, "bot", 5000)]
    assert max(sizes) == CHUNK_SIZE and sum(sizes) == 5000


class TestQuirks:
    """quirks=True: the same leads, in the loose forms a real API may send."""

    COUNT = 3000

    def quirky(self) -> list[dict]:
        return list(leads_for_bot(0, "bot-alpha", self.COUNT, quirks=True))

    def test_quirks_are_deterministic(self) -> None:
        assert body(0, "b", 500, quirks=True) == body(0, "b", 500, quirks=True)

    def test_timestamps_take_every_precision_and_offset_form(self) -> None:
        stamps = [lead["created_at"] for lead in self.quirky()]
        digits = {len(m.group(1)) if m else 0 for m in (re.search(r"\.(\d+)", s) for s in stamps)}
        assert digits == set(range(7))
        assert any(s.endswith("Z") for s in stamps)
        assert any(s.endswith("+00:00") for s in stamps)
        assert any(re.search(r"[+-](0[1-9]|1\d):\d\d$", s) for s in stamps)

    def test_same_instants_as_the_conforming_leads(self) -> None:
        plain = {x["session_id"]: x for x in leads_for_bot(0, "bot-alpha", self.COUNT)}
        for lead in self.quirky():
            exact = datetime.fromisoformat(plain[lead["session_id"]]["created_at"])
            shown = datetime.fromisoformat(lead["created_at"].replace("Z", "+00:00"))
            # Shown with fewer digits it is truncated; with more it only adds microseconds.
            assert timedelta(0) <= exact - shown < timedelta(seconds=1) or timedelta(
                0
            ) <= shown - exact < timedelta(milliseconds=1)

    def test_optional_fields_are_null_or_missing_and_extras_appear(self) -> None:
        leads = self.quirky()
        for key in ("enduser_name", "enduser_email", "enduser_phone", "for_agent"):
            assert any(key in x and x[key] is None for x in leads), f"{key} never null"
            assert any(key not in x for x in leads), f"{key} never missing"
        known = set(chatnode_spec.component_schema("Conversation")["properties"])
        assert any(set(x) - known for x in leads)

    def test_same_leads_but_locally_out_of_order(self) -> None:
        quirky = [x["session_id"] for x in self.quirky()]
        plain = [x["session_id"] for x in leads_for_bot(0, "bot-alpha", self.COUNT)]
        assert sorted(quirky) == sorted(plain) and quirky != plain
        position = {sid: i for i, sid in enumerate(plain)}
        assert max(abs(position[sid] - i) for i, sid in enumerate(quirky)) < 8
