"""Exactly once across incremental runs, for targets that append.

The connector's cursor is inclusive: an incremental read starts at each bot's saved instant, so
the records at that instant come again (at least once, never lost; Airbyte destinations dedupe
them by primary key). A Singer target such as target-jsonl appends whatever it gets, so the tap
remembers, per bot, the keys it delivered at the instant the bot's cursor stands on, and drops
exactly those records when they come again. A new record at that same instant has a new key and
passes; a record without a usable `created_at` is always passed on (it cannot be placed in time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from source_chatnode.components import epoch_microseconds

Key = tuple[str, ...]


@dataclass
class BotBoundary:
    """The newest instant delivered for one bot, and the keys of the records delivered at it."""

    instant_us: int
    keys: set[Key] = field(default_factory=set)


def _instant(value: Any) -> int | None:
    return epoch_microseconds(value) if isinstance(value, str) else None


@dataclass
class BoundaryKeys:
    """Per bot: what a previous run delivered at its cursor (to drop) and what this run has
    delivered at its newest instant (to save with the next checkpoint)."""

    primary_key: Sequence[str]
    cursor_field: str
    delivered: dict[str, BotBoundary] = field(default_factory=dict)
    """From the saved state: only these are dropped, so a run never drops its own records."""
    newest: dict[str, BotBoundary] = field(default_factory=dict)

    @classmethod
    def from_state(
        cls, saved: Mapping[str, Any] | None, primary_key: Sequence[str], cursor_field: str
    ) -> BoundaryKeys:
        """Read what `to_state` wrote; anything unreadable is ignored (it only costs repeats)."""
        delivered: dict[str, BotBoundary] = {}
        for bot, entry in (saved or {}).items():
            instant = _instant(entry.get("created_at")) if isinstance(entry, Mapping) else None
            keys = entry.get("keys") if isinstance(entry, Mapping) else None
            if instant is not None and isinstance(keys, list):
                delivered[bot] = BotBoundary(instant, {tuple(k) for k in keys})
        newest = {bot: BotBoundary(b.instant_us, set(b.keys)) for bot, b in delivered.items()}
        return cls(primary_key, cursor_field, delivered, newest)

    def key_of(self, record: Mapping[str, Any]) -> Key:
        return tuple(str(record.get(part)) for part in self.primary_key)

    def admit(self, record: Mapping[str, Any]) -> bool:
        """False for a record a previous run delivered at its bot's cursor; else True, and the
        record counts toward this run's boundary."""
        bot = str(record.get("bot_id"))
        instant = _instant(record.get(self.cursor_field))
        if instant is None:
            return True
        key = self.key_of(record)
        seen = self.delivered.get(bot)
        if seen is not None and seen.instant_us == instant and key in seen.keys:
            return False
        newest = self.newest.get(bot)
        if newest is None or instant > newest.instant_us:
            self.newest[bot] = BotBoundary(instant, {key})
        elif instant == newest.instant_us:
            newest.keys.add(key)
        return True

    def to_state(self, connector_state: Mapping[str, Any]) -> dict[str, Any]:
        """The boundary of each bot whose cursor in `connector_state` stands on its newest
        delivered instant; a bot whose cursor is elsewhere has nothing to drop next time."""
        saved: dict[str, Any] = {}
        for bot, cursor in _bot_cursors(connector_state, self.cursor_field).items():
            newest = self.newest.get(bot)
            if newest is not None and newest.instant_us == cursor:
                saved[bot] = {
                    "created_at": cursor_text(connector_state, bot, self.cursor_field),
                    "keys": sorted(list(key) for key in newest.keys),
                }
        return saved


def _bot_cursors(connector_state: Mapping[str, Any], cursor_field: str) -> dict[str, int]:
    cursors: dict[str, int] = {}
    for entry in connector_state.get("states") or []:
        bot = (entry.get("partition") or {}).get("bot_id")
        instant = _instant((entry.get("cursor") or {}).get(cursor_field))
        if isinstance(bot, str) and instant is not None:
            cursors[bot] = instant
    return cursors


def cursor_text(connector_state: Mapping[str, Any], bot: str, cursor_field: str) -> str | None:
    """The bot's cursor as the connector wrote it."""
    for entry in connector_state.get("states") or []:
        if (entry.get("partition") or {}).get("bot_id") == bot:
            return (entry.get("cursor") or {}).get(cursor_field)
    return None
