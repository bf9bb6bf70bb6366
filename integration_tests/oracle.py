"""What the documented contract says a sync emits, for the records of either stream.

Shared by the leads and chats properties, so both judge the connector by the same rules: a record
is its item as the API sent it plus its bot; a sync starting at a bot's cursor emits the items
that name no usable instant and those at or after the cursor (inclusive); the cursor then moves
to the newest instant emitted. Instants are read by `unit_tests.strategies.instant_of`, the
tests' own parser, never the connector's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from hypothesis import settings
from hypothesis import strategies as st

from source_chatnode.run import load_manifest
from unit_tests.strategies import instant_of

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Where a bot without state starts when no `start_date` is set."""

Item = TypeVar("Item", bound=Mapping[str, Any])

DEFAULT_WORKERS: int = load_manifest()["spec"]["connection_specification"]["properties"][
    "num_workers"
]["default"]
"""`num_workers` when the config leaves it out: every sync that sets none runs this many."""


def worker_counts() -> st.SearchStrategy[int]:
    """`num_workers`: the default first (where shrinking goes), then one request at a time, two,
    and more workers than a test's bots or batches. The contract holds whatever the count."""
    return st.sampled_from([DEFAULT_WORKERS, *(n for n in (1, 2, 10) if n != DEFAULT_WORKERS)])


def at_most(examples: int) -> settings:
    """The profile's settings with fewer examples, for properties that cost seconds each."""
    return settings(max_examples=min(settings().max_examples, examples))


def as_record(bot: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """The record an item (lead or message) becomes: its fields and its bot, top-level nulls
    dropped (as serialized).

    A `created_at` that is not a string (say epoch milliseconds as a number) comes out as its
    JSON text, the streams' declared type: documented, and no value is lost.
    """
    record = {**item, "bot_id": bot}
    created_at = record.get("created_at")
    if created_at is not None and not isinstance(created_at, str):
        record["created_at"] = json.dumps(created_at, separators=(",", ":"))
    return {name: value for name, value in record.items() if value is not None}


def due_by_created_at(items: Sequence[Item], floor: datetime) -> list[Item]:
    """The items a sync starting at `floor` must emit: undated ones and those at or after it."""
    return [
        item
        for item in items
        if (moment := instant_of(item.get("created_at"))) is None or moment >= floor
    ]


def newest(floor: datetime, items: Iterable[Mapping[str, Any]]) -> datetime:
    """Where a bot's cursor must end after emitting `items`: their newest instant, or `floor`."""
    moments = (instant_of(item.get("created_at")) for item in items)
    return max([floor, *(moment for moment in moments if moment is not None)])


class CheckpointLedger(Protocol):
    """What a ledger knows that decides whether a checkpoint is safe."""

    delivered: set[Any]
    late: set[Any]
    cursors: Mapping[str, datetime]

    def floor(self, bot: str) -> datetime: ...

    def behind(self, bot: str, cursor: datetime) -> set[Any]: ...


def check_checkpoints(ledger: CheckpointLedger, result: Any, records: str) -> None:
    """No checkpoint of `result` moves a bot back, forgets it, or passes a record (lead or
    message) not yet emitted: the rule the leads and the chats ledgers share."""
    for checkpoint in result.checkpoints:
        emitted = ledger.delivered | result.keys_before(checkpoint) | ledger.late
        cursors = checkpoint.cursors
        forgotten = set(ledger.cursors) - set(cursors)
        assert not forgotten, f"a checkpoint dropped the cursor of {sorted(forgotten)}"
        for bot, cursor in cursors.items():
            assert cursor >= ledger.floor(bot), f"{bot}: cursor moved back to {cursor}"
            passed = sorted(ledger.behind(bot, cursor) - emitted)
            assert not passed, f"{bot}: checkpoint at {cursor} passes unemitted {records} {passed}"
