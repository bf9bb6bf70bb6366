"""With `num_workers` requests in flight: an overloaded API gets one retry per refused request,
after its Retry-After, never a storm; and a batch that fails in the middle of a bot leaves that
bot's cursor where it was while the other bots' move.

The connector runs in process (`integration_tests.in_process`) against the mock, whose journal
counts the requests. The CDK's retry wait is recorded instead of slept, so a Retry-After of
seconds costs none: a wait lasts only until the overload is over (`RecordedWaits.over`), as a real
Retry-After would, so no retry races the first requests still on their way.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

import pytest

from integration_tests.in_process import SyncResult, run_sync
from integration_tests.oracle import as_record
from mock_server import faults
from mock_server.server import MockServer

if TYPE_CHECKING:
    from conftest import RecordedWaits

RETRY_AFTER = 7
"""Seconds; the CDK waits Retry-After plus one second of margin."""
WAIT_FOR_RETRY_AFTER = RETRY_AFTER + 1
REFUSED = 10
"""Requests the API refuses while `WORKERS` are in flight."""
WORKERS = 10


@pytest.fixture
def server(chatnode_mock: MockServer) -> MockServer:
    return chatnode_mock


pytestmark = pytest.mark.chatnode_mock(
    bots=(), leads_per_bot=0, messages_per_session=(1, 1), seed=5
)


def route_statuses(server: MockServer, endpoint: str) -> Counter[int]:
    return Counter(entry["status"] for entry in server.journal() if endpoint in entry["path"])


def served(server: MockServer, bot: str, stream: str) -> set[tuple[str, str]]:
    leads = server.leads(bot)
    if stream == "leads":
        return {(bot, lead["session_id"]) for lead in leads}
    return {(bot, m["id"]) for m in server.chats(bot, [lead["session_id"] for lead in leads])}


LOADS = {
    # stream: (bots, leads per bot, chats_batch_size, the route the API refuses)
    "leads of many bots": ("leads", 20, 3, 100, "get-conversation-ids"),
    "chats of one big bot": ("chats", 1, 200, 10, "get-chats"),
}


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("load", sorted(LOADS))
def test_an_overloaded_api_gets_one_retry_per_refused_request_after_its_retry_after(
    server: MockServer, backoff_waits: RecordedWaits, status: int, load: str
) -> None:
    """The first `REFUSED` requests, sent `WORKERS` at a time, are refused; every other request is
    slow, so many are in flight together. Each refused request is retried once, after waiting for
    Retry-After: the API sees exactly the requests of the read plus one per refusal."""
    stream, bots, leads, batch_size, endpoint = LOADS[load]
    bot_ids = [f"bot-{n:02}" for n in range(bots)]
    for bot in bot_ids:
        server.add_bot(bot, count=leads)
    expected = set().union(*(served(server, bot, stream) for bot in bot_ids))
    route = "leads" if stream == "leads" else "chats"
    server.inject(faults.status(status, retry_after=RETRY_AFTER, times=REFUSED, route=route))
    server.inject(faults.latency(0.05, route=route))
    backoff_waits.over = lambda: not any(r["kind"] == "status" for r in server.fault_rules())

    result = run_sync(
        server,
        bot_ids,
        stream=stream,
        sync_mode="full_refresh",
        num_workers=WORKERS,
        chats_batch_size=batch_size,
    )

    assert not result.errors, result.errors
    assert sorted(result.keys) == sorted(expected), "a record lost or repeated"
    requests_of_the_read = bots if stream == "leads" else -(-leads // batch_size)
    assert route_statuses(server, endpoint) == {200: requests_of_the_read, status: REFUSED}
    assert backoff_waits == [WAIT_FOR_RETRY_AFTER] * REFUSED, "a retry did not wait for Retry-After"


def newest_by_bot(result: SyncResult, upto: int) -> dict[str, datetime]:
    newest: dict[str, datetime] = {}
    for record in result.records[:upto]:
        moment = datetime.fromisoformat(record["created_at"])
        bot = record["bot_id"]
        newest[bot] = max(newest.get(bot, moment), moment)
    return newest


def test_a_batch_failing_in_the_middle_of_a_bot_keeps_its_cursor_and_loses_nothing(
    server: MockServer,
) -> None:
    """Two batches of the big bot in flight; its first two succeed and its third fails. Its
    cursor stays where the last sync left it in every checkpoint, though some of its new
    messages were emitted; the other bots' cursors move to their newest message; no checkpoint
    claims a message not yet emitted; the next sync reads every message the failed one missed."""
    big, small = "bot-big", ["bot-s1", "bot-s2"]
    server.add_bot(big, count=12)
    for bot in small:
        server.add_bot(bot, count=4)
    bots = [big, *small]
    options = {"stream": "chats", "num_workers": 2, "chats_batch_size": 2}
    first = run_sync(server, bots, **options)
    assert not first.errors, first.errors
    before = first.cursors

    new = {}
    for bot in bots:
        sessions = [lead["session_id"] for lead in server.leads(bot)]
        new[bot] = [server.append_message(bot, s, content="still there?") for s in sessions]
    # The seeded draws make the bot's first two chats requests pass and its third fail: the
    # third is sent once one of the first two has handed over all its messages.
    server.inject(faults.truncated(bot=big, route="chats", p=0.5, seed=0))
    server.inject(faults.latency(0.05, route="chats"))
    broken = run_sync(server, bots, state=first.final_state, **options)

    assert any("malformed messages response" in error for error in broken.errors), broken.errors
    met = [e["fault"] for e in server.journal() if e["bot"] == big and "get-chats" in e["path"]]
    assert "truncated" in met and any(fault != "truncated" for fault in met), met
    emitted_of_big = {key for key in broken.keys if key[0] == big}
    assert emitted_of_big, "the failed bot emitted nothing: the failure was not mid-bot"
    assert broken.checkpoints, "the other bots' progress was not saved"
    for checkpoint in broken.checkpoints:
        assert checkpoint.cursors[big] == before[big], "the failed bot's cursor moved"
        emitted = newest_by_bot(broken, checkpoint.records_before)
        for bot in small:
            if checkpoint.cursors[bot] != before[bot]:
                assert checkpoint.cursors[bot] == emitted.get(bot), f"{bot}: state ran ahead"
    for bot in small:
        newest = max(datetime.fromisoformat(m["created_at"]) for m in new[bot])
        assert broken.cursors[bot] == newest, f"{bot} did not move to its newest message"

    server.clear_faults()
    healed = run_sync(server, bots, state=broken.final_state, **options)
    assert not healed.errors, healed.errors
    missed = {(big, m["id"]) for m in new[big]} - emitted_of_big
    assert missed <= set(healed.keys), "a message the failed sync missed was never read"
    want = [as_record(big, m) for m in new[big]]
    assert all(record in healed.records for record in want if (big, record["id"]) in missed)
