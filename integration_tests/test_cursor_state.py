"""Per-bot state, read the fast way: each bot's saved cursor is its newest emitted lead, in the
state format the connector always wrote, and the wrapped retriever (`CachedSliceHashRetriever`)
changes nothing but the time it takes.

Against the mock API over HTTP, in process through the CLI's entrypoint
(`integration_tests.in_process`); what a second sync emits is `test_properties.py`'s business.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from airbyte_cdk.models import AirbyteStateMessageSerializer, Level
from airbyte_cdk.utils.slice_hasher import SliceHasher

from integration_tests.conftest import API_KEY
from integration_tests.connector_runner import bot_cursors_of
from integration_tests.in_process import (
    MANIFEST_UNDER_TEST_ENV,
    SyncResult,
    read_streams,
    run_sync,
)
from mock_server import faults
from mock_server.server import MockServer
from source_chatnode.run import load_manifest
from unit_tests.strategies import instant_of

QUIRKY_BOTS = ("bot-alpha", "bot-beta", "bot-gamma")
WRAPPER = "source_declarative_manifest.components.ConnectionCheckingRetriever"
"""The leads retriever: a `CachedSliceHashRetriever` that also answers `check`."""
SAVED_CURSOR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+0000")
"""How the per-bot cursor writes an instant (the manifest's `datetime_format`, in UTC)."""

MIXED_LEADS = [
    {"session_id": "old", "created_at": "2024-01-01T00:00:00Z"},
    {"session_id": "newest", "created_at": "2024-06-30T19:32:53.518+02:00"},
    {"session_id": "undated", "created_at": None},
    {"session_id": "later-as-text", "created_at": "2024-06-30T20:00:00+05:00"},
    {"session_id": "middle", "created_at": "2024-03-15T08:00:00.25+05:30"},
]
"""A bot whose newest lead comes second, behind an undated one and one that sorts after it as
text but is older as an instant."""
MIXED_NEWEST = datetime(2024, 6, 30, 17, 32, 53, 518000, tzinfo=UTC)


@pytest.fixture
def quirky(chatnode_mock: MockServer) -> MockServer:
    """Three seeded bots served the sloppy way (any offset, 0-6 digits, locally shuffled), and a
    fourth whose newest lead is in the middle."""
    chatnode_mock.add_bot("bot-mixed", leads=MIXED_LEADS)
    return chatnode_mock


pytestmark = pytest.mark.chatnode_mock(bots=QUIRKY_BOTS, leads_per_bot=60, seed=11, quirks=True)


def saved_instant(text: str) -> datetime:
    assert SAVED_CURSOR.fullmatch(text), f"cursor {text!r} is not in the saved state format"
    return datetime.fromisoformat(text)


def newest_emitted(records: Sequence[Mapping[str, Any]], bot: str) -> datetime:
    moments = [
        instant_of(record.get("created_at")) for record in records if record["bot_id"] == bot
    ]
    dated = [moment for moment in moments if moment is not None]
    assert dated, f"{bot} emitted no dated lead"
    return max(dated)


def test_each_bots_saved_cursor_is_its_newest_emitted_lead_not_the_sync_start(
    quirky: MockServer,
) -> None:
    bots = [*QUIRKY_BOTS, "bot-mixed"]
    started = datetime.now(UTC)
    result = run_sync(quirky, bots)
    assert not result.errors, result.errors
    alpha = [instant_of(r["created_at"]) for r in result.records if r["bot_id"] == "bot-alpha"]
    assert alpha != sorted(alpha), "the quirky mock was expected to serve leads out of order"

    saved = {
        e["partition"]["bot_id"]: e["cursor"]["created_at"] for e in stream_state(result)["states"]
    }
    cursors = {bot: saved_instant(text) for bot, text in saved.items()}
    assert set(cursors) == set(bots)
    for bot in bots:
        assert cursors[bot] == newest_emitted(result.records, bot), f"{bot}: not its newest lead"
        assert cursors[bot] < started, f"{bot}: saved the sync's start, not a lead"
    assert cursors["bot-mixed"] == MIXED_NEWEST


# In process: the shipped manifest against the same one without the wrapper.


def without_the_wrapper(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest with the plain SimpleRetriever the wrapper nests, as it was before."""
    variant = copy.deepcopy(dict(manifest))
    (stream,) = [stream for stream in variant["streams"] if stream["name"] == "leads"]
    wrapper = stream["retriever"]
    assert wrapper.get("class_name") == WRAPPER, "the leads stream is expected to be wrapped"
    stream["retriever"] = {**wrapper["retriever"], "partition_router": wrapper["partition_router"]}
    return variant


def run_unwrapped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """From here on, in-process syncs run the manifest without the wrapper."""
    path = tmp_path / "unwrapped_manifest.yaml"
    path.write_text(yaml.safe_dump(without_the_wrapper(load_manifest())), encoding="utf-8")
    monkeypatch.setenv(MANIFEST_UNDER_TEST_ENV, str(path))


def stream_state(result: SyncResult) -> dict[str, Any]:
    assert result.checkpoints, "the sync saved no state"
    return dict(result.checkpoints[-1].stream_state)


def comparable(result: SyncResult) -> tuple[list[str], dict[str, Any]]:
    """Records in a stable order, and the state without `lookback_window` (the sync's length)."""
    records = sorted(repr(sorted(record.items())) for record in result.records)
    state = {key: value for key, value in stream_state(result).items() if key != "lookback_window"}
    return records, state


def two_syncs(server: MockServer, bots: Sequence[str]) -> list[SyncResult]:
    first = run_sync(server, bots)
    server.append("bot-alpha", count=7)
    server.append("bot-mixed", leads=[{"session_id": "late", "created_at": "2024-07-01T00:00:00Z"}])
    return [first, run_sync(server, bots, state=first.final_state)]


def test_the_wrapper_reads_and_saves_exactly_what_the_plain_retriever_does(
    quirky: MockServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bots = [*QUIRKY_BOTS, "bot-mixed"]
    ours = two_syncs(quirky, bots)
    quirky.reset()
    quirky.add_bot("bot-mixed", leads=MIXED_LEADS)
    run_unwrapped(monkeypatch, tmp_path)
    plain = two_syncs(quirky, bots)
    for step, (mine, theirs) in enumerate(zip(ours, plain, strict=True), start=1):
        assert not mine.errors and not theirs.errors, (mine.errors, theirs.errors)
        assert comparable(mine) == comparable(theirs), f"sync {step} differs from the plain read"


def test_the_state_keeps_its_shape_one_entry_per_bot_with_its_created_at(
    quirky: MockServer,
) -> None:
    bots = [*QUIRKY_BOTS, "bot-mixed"]
    state = stream_state(run_sync(quirky, bots))
    assert state["use_global_cursor"] is False
    assert set(state) <= {"use_global_cursor", "states", "state", "lookback_window"}
    assert [entry["partition"] for entry in state["states"]] == [{"bot_id": bot} for bot in bots]
    for entry in state["states"]:
        assert set(entry) == {"partition", "cursor"}
        assert set(entry["cursor"]) == {"created_at"}
        saved_instant(entry["cursor"]["created_at"])


def test_a_bot_added_later_reads_all_of_its_history(quirky: MockServer) -> None:
    first = run_sync(quirky, QUIRKY_BOTS)
    older = [
        {"session_id": f"early-{n}", "created_at": f"2001-0{n}-01T00:00:00Z"} for n in range(1, 8)
    ]
    quirky.add_bot("bot-late", leads=older)
    second = run_sync(quirky, [*QUIRKY_BOTS, "bot-late"], state=first.final_state)
    assert not second.errors, second.errors
    late = {key for key in second.keys if key[0] == "bot-late"}
    assert late == {("bot-late", lead["session_id"]) for lead in older}
    assert second.cursors["bot-late"] == datetime(2001, 7, 1, tzinfo=UTC)
    for bot in QUIRKY_BOTS:
        assert second.cursors[bot] == first.cursors[bot]


def test_a_failing_bot_keeps_its_cursor_while_the_others_advance(quirky: MockServer) -> None:
    first = run_sync(quirky, QUIRKY_BOTS)
    for bot in QUIRKY_BOTS:
        quirky.append(bot, count=5)
    quirky.inject(faults.status(403, bot="bot-beta"))
    second = run_sync(quirky, QUIRKY_BOTS, state=first.final_state)
    assert second.errors, "the refused bot went unreported"
    assert second.cursors["bot-beta"] == first.cursors["bot-beta"]
    for bot in ("bot-alpha", "bot-gamma"):
        assert second.cursors[bot] > first.cursors[bot]
        assert second.cursors[bot] == newest_emitted(second.records, bot)


# The speed itself: slices are hashed per read, not per lead.


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts SliceHasher.hash calls (the JSON + SHA-256 the CDK computes a slice's hash with)."""
    calls: list[int] = []
    hash_slice = SliceHasher.hash

    def counting_hash(
        stream_name: str = "<stream name not provided>",
        stream_slice: Mapping[str, Any] | None = None,
    ) -> int:
        calls.append(1)
        return hash_slice(stream_name, stream_slice)

    monkeypatch.setattr(SliceHasher, "hash", counting_hash)
    return calls


LEADS_PER_BOT = 300


@pytest.fixture
def many_leads(chatnode_mock_factory: Callable[..., MockServer]) -> MockServer:
    return chatnode_mock_factory(
        api_keys={API_KEY: None}, bots=QUIRKY_BOTS[:2], leads_per_bot=LEADS_PER_BOT
    )


def test_the_per_bot_cursor_hashes_each_slice_a_few_times_not_each_lead(
    many_leads: MockServer, hash_calls: list[int]
) -> None:
    result = run_sync(many_leads, QUIRKY_BOTS[:2])
    assert len(result.records) == 2 * LEADS_PER_BOT
    assert len(hash_calls) <= 10 * 2, f"{len(hash_calls)} slice hashes for 2 slices"


def test_without_the_wrapper_the_cursor_hashes_a_slice_for_each_lead(
    many_leads: MockServer, hash_calls: list[int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The count above can fail: the plain retriever hashes twice per lead."""
    run_unwrapped(monkeypatch, tmp_path)
    result = run_sync(many_leads, QUIRKY_BOTS[:2])
    assert len(result.records) == 2 * LEADS_PER_BOT
    assert len(hash_calls) >= 2 * len(result.records)


UNDATED_LEADS = [
    {"session_id": "missing"},
    {"session_id": "null", "created_at": None},
    {"session_id": "unparseable", "created_at": "yesterday"},
    {"session_id": "not-a-string", "created_at": 1719770000},
]
"""Leads the connector cannot place in time (docs/chatnode.md): emitted, never a cursor."""


def test_undated_leads_are_emitted_and_an_unparseable_one_is_named_in_a_warning(
    chatnode_mock: MockServer,
) -> None:
    dated = {"session_id": "dated", "created_at": "2024-06-30T17:32:53.518+00:00"}
    chatnode_mock.add_bot("bot-undated", leads=[*UNDATED_LEADS, dated])
    output = read_streams(chatnode_mock, ["bot-undated"], ["leads"])
    emitted = [message.record.data["session_id"] for message in output.records]
    assert sorted(emitted) == sorted(lead["session_id"] for lead in [*UNDATED_LEADS, dated])
    warnings = [log.log.message for log in output.logs if log.log.level == Level.WARN]
    assert any(
        "cursor field 'created_at'" in warning and "'yesterday'" in warning for warning in warnings
    ), warnings
    state = AirbyteStateMessageSerializer.dump(output.state_messages[-1].state)
    assert saved_instant(bot_cursors_of(state)["bot-undated"]) == instant_of(dated["created_at"])
