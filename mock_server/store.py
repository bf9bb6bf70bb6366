"""What each bot serves right now: its generated base leads plus whatever a test added since.

A bot's leads are an immutable tuple of segments (lazily generated runs, or raw dicts given by a
test), swapped under a lock. A request takes a snapshot and streams it without holding the lock,
so a test can append from another thread while a million-lead body is on the wire.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import orjson

from mock_server.data import APPEND_GAP_MS, Timeline, base_timeline, json_array, lead_chunks


@dataclass(frozen=True)
class GeneratedSegment:
    """`count` seeded leads of a bot, generated only when streamed."""

    seed: int
    bot_id: str
    count: int
    quirks: bool
    start_index: int
    timeline: Timeline

    def chunks(self) -> Iterator[bytes]:
        return lead_chunks(
            self.seed,
            self.bot_id,
            self.count,
            quirks=self.quirks,
            start_index=self.start_index,
            timeline=self.timeline,
        )

    @property
    def end_ms(self) -> int:
        return self.timeline.end_ms(self.count)


@dataclass(frozen=True)
class RawSegment:
    """Leads a test gave verbatim; served as given, even when they break the spec on purpose."""

    body: bytes
    """The leads as JSON, joined by commas without brackets."""
    count: int
    end_ms: int

    @classmethod
    def of(cls, leads: Sequence[Any], after_ms: int) -> RawSegment:
        stamps = [_epoch_ms(lead.get("created_at")) for lead in leads if isinstance(lead, dict)]
        end = max([after_ms, *(s + 1000 for s in stamps if s is not None)])
        return cls(orjson.dumps(list(leads))[1:-1], len(leads), end)

    def chunks(self) -> Iterator[bytes]:
        if self.body:
            yield self.body


Segment = GeneratedSegment | RawSegment


def _epoch_ms(value: Any) -> int | None:
    """A raw lead's `created_at` in epoch ms, when it is a parseable timestamp with an offset."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return int(parsed.timestamp() * 1000) if parsed.tzinfo else None


@dataclass(frozen=True)
class BotLeads:
    """An immutable snapshot of one bot's leads."""

    bot_id: str
    segments: tuple[Segment, ...] = ()
    next_index: int = 0
    """Where the next generated run starts in the bot's random stream, so no lead repeats."""
    end_ms: int = 0
    """An instant after every lead so far: appended leads are created after it."""
    has_raw: bool = field(default=False)

    @property
    def count(self) -> int:
        return sum(s.count for s in self.segments)

    def element_chunks(self) -> Iterator[bytes]:
        """The leads as JSON chunks, each `{...},{...}` without brackets."""
        for segment in self.segments:
            yield from segment.chunks()

    def body_chunks(self) -> Iterator[bytes]:
        """The 200 body: a JSON array, streamed."""
        return json_array(self.element_chunks())

    @cached_property
    def whole_body(self) -> bytes:
        """The 200 body in one piece, built once per snapshot (snapshots never change): for
        small bots that are read again and again."""
        return b"".join(self.body_chunks())

    def materialize(self) -> list[Any]:
        """All leads as Python objects: for tests and admin answers on small bots."""
        return orjson.loads(b"".join(self.body_chunks()))

    def with_segment(self, segment: Segment) -> BotLeads:
        generated = segment.count if isinstance(segment, GeneratedSegment) else 0
        return BotLeads(
            self.bot_id,
            (*self.segments, segment),
            self.next_index + generated,
            max(self.end_ms, segment.end_ms),
            self.has_raw or isinstance(segment, RawSegment),
        )


class LeadStore:
    """The bots and their leads, shared between the server thread and the test thread."""

    def __init__(
        self, bots: Sequence[str], leads_per_bot: int, *, seed: int = 0, quirks: bool = False
    ) -> None:
        self._initial_bots, self._leads_per_bot = tuple(bots), leads_per_bot
        self._seed, self._quirks = seed, quirks
        self._lock = threading.Lock()
        self._bots: dict[str, BotLeads] = {}
        self.reset()

    def reset(self) -> None:
        """Back to the configured bots with their seeded leads."""
        bots = {b: self._generated(b, self._leads_per_bot) for b in self._initial_bots}
        with self._lock:
            self._bots = bots

    def bot_ids(self) -> list[str]:
        with self._lock:
            return list(self._bots)

    def snapshot(self, bot_id: str) -> BotLeads | None:
        with self._lock:
            return self._bots.get(bot_id)

    def leads(self, bot_id: str) -> list[dict[str, Any]]:
        """What the bot serves now, as dicts."""
        return self._require(bot_id).materialize()

    def append(
        self, bot_id: str, count: int | None = None, leads: Sequence[Any] | None = None
    ) -> list[Any]:
        """Add leads after the existing ones and return them: `count` new seeded leads created
        later than any lead so far, or `leads` served verbatim."""
        _one_of(count, leads)
        with self._lock:
            current = self._require_locked(bot_id)
            segment = self._segment_after(current, count, leads)
            self._bots[bot_id] = current.with_segment(segment)
        return BotLeads(bot_id).with_segment(segment).materialize()

    def set_leads(
        self, bot_id: str, leads: Sequence[Any] | None = None, *, count: int | None = None
    ) -> None:
        """Replace a bot's leads with `leads` (verbatim) or `count` freshly seeded leads."""
        _one_of(count, leads)
        replacement = self._fresh(bot_id, count, leads)
        with self._lock:
            self._require_locked(bot_id)
            self._bots[bot_id] = replacement

    def add_bot(
        self, bot_id: str, count: int | None = None, leads: Sequence[Any] | None = None
    ) -> None:
        """A new bot with `count` seeded leads (default none) or the given `leads`."""
        if not bot_id or "/" in bot_id:
            raise ValueError(f"bot id {bot_id!r} must be non-empty and contain no '/'")
        if count is not None and leads is not None:
            raise ValueError("give count= or leads=, not both")
        fresh = self._fresh(bot_id, count, leads)
        with self._lock:
            if bot_id in self._bots:
                raise KeyError(f"bot {bot_id!r} already exists; use set_leads to replace its leads")
            self._bots[bot_id] = fresh

    def _fresh(self, bot_id: str, count: int | None, leads: Sequence[Any] | None) -> BotLeads:
        if leads is not None:
            return BotLeads(bot_id).with_segment(RawSegment.of(leads, 0))
        return self._generated(bot_id, count or 0)

    def _generated(self, bot_id: str, count: int) -> BotLeads:
        if count < 0:
            raise ValueError(f"lead count must be >= 0, got {count}")
        seed, quirks = self._seed, self._quirks
        timeline = base_timeline(seed, bot_id, count)
        segment = GeneratedSegment(seed, bot_id, count, quirks, 0, timeline)
        return BotLeads(bot_id).with_segment(segment)

    def _segment_after(
        self, current: BotLeads, count: int | None, leads: Sequence[Any] | None
    ) -> Segment:
        if leads is not None:
            return RawSegment.of(leads, current.end_ms)
        if count is None or count < 0:
            raise ValueError(f"lead count must be >= 0, got {count}")
        timeline = Timeline(current.end_ms, APPEND_GAP_MS)
        seed, quirks = self._seed, self._quirks
        return GeneratedSegment(seed, current.bot_id, count, quirks, current.next_index, timeline)

    def _require(self, bot_id: str) -> BotLeads:
        with self._lock:
            return self._require_locked(bot_id)

    def _require_locked(self, bot_id: str) -> BotLeads:
        try:
            return self._bots[bot_id]
        except KeyError:
            raise KeyError(f"no bot {bot_id!r}; known bots: {sorted(self._bots)}") from None


def _one_of(count: int | None, leads: Sequence[Any] | None) -> None:
    if (count is None) == (leads is None):
        raise ValueError("give exactly one of count= or leads=")
