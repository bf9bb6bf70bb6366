"""What each bot serves right now: its seeded leads plus whatever a test added since, and the
chats of those leads' sessions (generated, plus messages appended since).

A bot is an immutable snapshot (its leads a tuple of segments, lazily generated or given),
swapped under a lock. A request streams a snapshot without holding the lock, so a test can append
from another thread while a million-lead body is on the wire. A snapshot's session index is
built on first use and cached with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from types import MappingProxyType
from typing import Any, TypeVar

import orjson

from mock_server import replies
from mock_server.config import MockConfig
from mock_server.data import (
    APPEND_GAP_MS,
    Conversations,
    Timeline,
    base_timeline,
    lead_chunks,
    parse_chunks,
    parse_ms,
    spec_timestamp,
)

T = TypeVar("T")

DEFAULT_RECENT_SESSIONS = 10
"""How many sessions Get Chat History answers for without ids or `k` (the spec sets no default)."""


@dataclass(frozen=True)
class Segment:
    """A run of a bot's leads: `count` of them, all created before `end_ms`, written as JSON
    chunks by `chunks` (seeded leads are generated only as they stream)."""

    count: int
    end_ms: int
    chunks: Callable[[], Iterator[bytes]]
    generated: bool = False
    """Seeded: the next generated run starts after these in the bot's random stream."""
    conforming: bool = True
    """Meant to match the spec: neither quirky nor given by a test to break it on purpose."""


def raw_segment(leads: Sequence[Any], after_ms: int, *, conforming: bool = False) -> Segment:
    """Leads given verbatim (by a test, or by Send Message for a session it started,
    `conforming`), created before an instant after `after_ms` and theirs."""
    stamps = [_epoch_ms(lead.get("created_at")) for lead in leads if isinstance(lead, dict)]
    end = max([after_ms, *(s + 1000 for s in stamps if s is not None)])
    body = orjson.dumps(list(leads))[1:-1]
    return Segment(len(leads), end, lambda: iter((body,)), conforming=conforming)


def _epoch_ms(value: Any) -> int | None:
    """A `created_at` in epoch ms, when it is a parseable timestamp with an offset."""
    try:
        return parse_ms(value) if isinstance(value, str) else None
    except ValueError:
        return None


@dataclass(frozen=True)
class BotLeads:
    """An immutable snapshot of one bot's leads."""

    bot_id: str
    segments: tuple[Segment, ...] = ()
    next_index: int = 0
    """Where the next generated run starts in the bot's random stream, so no lead repeats."""
    end_ms: int = 0
    """An instant after every lead so far: appended leads are created after it."""
    conforming: bool = True

    @property
    def count(self) -> int:
        return sum(s.count for s in self.segments)

    def element_chunks(self) -> Iterator[bytes]:
        """The leads as JSON chunks, each `{...},{...}` without brackets."""
        for segment in self.segments:
            yield from segment.chunks()

    @cached_property
    def sessions(self) -> Mapping[str, int | None]:
        """Session id -> its lead's created_at in epoch ms (None when it names no instant), in
        lead order; a session listed twice keeps its first lead. Built on first use, one chunk of
        leads at a time (or handed down by `with_segment`)."""
        return MappingProxyType(_add_sessions({}, self.element_chunks()))

    @cached_property
    def sessions_by_time(self) -> tuple[str, ...]:
        """The sessions whose lead names an instant, oldest first (ties in lead order)."""
        timed = [
            (ms, i, sid) for i, (sid, ms) in enumerate(self.sessions.items()) if ms is not None
        ]
        return tuple(sid for _, _, sid in sorted(timed))

    def with_segment(self, segment: Segment) -> BotLeads:
        """These leads and then the segment's. A session index already built is handed down,
        extended by the segment's leads only: each session Send Message starts on a big bot
        would otherwise cost re-reading all its leads."""
        extended = BotLeads(
            self.bot_id,
            (*self.segments, segment),
            self.next_index + (segment.count if segment.generated else 0),
            max(self.end_ms, segment.end_ms),
            self.conforming and segment.conforming,
        )
        built = self.__dict__.get("sessions")
        if built is not None:
            index = MappingProxyType(_add_sessions(built.copy(), segment.chunks()))
            extended.__dict__["sessions"] = index
        return extended


def _add_sessions(found: dict[str, int | None], chunks: Iterable[bytes]) -> dict[str, int | None]:
    """`found` plus the sessions of these lead chunks not in it yet."""
    for chunk in chunks:
        for lead in parse_chunks([chunk]):
            session_id = lead.get("session_id") if isinstance(lead, dict) else None
            if isinstance(session_id, str) and session_id not in found:
                found[session_id] = _epoch_ms(lead.get("created_at"))
    return found


@dataclass(frozen=True)
class Exchange:
    """One Send Message as the store recorded it: the visitor's message and the agent's, as Get
    Chat History serves them, the reply, and the lead listed for a session it started, if any."""

    session_id: str
    question: Any
    answer: Any
    reply: replies.Reply
    lead: Any | None

    def response(self) -> dict[str, Any]:
        """Send Message's 200 body, in the shape of the spec's `Message`."""
        return {
            "id": self.reply.id,
            "message": self.reply.content,
            "chat_session_id": self.session_id,
            "urls": list(self.reply.urls),
            "docs": list(self.reply.docs),
        }


MESSAGE_APPEND_GAP_MS = 60_000
"""An appended message comes this long after everything the bot's chats held before it."""


@dataclass(frozen=True)
class BotChats:
    """An immutable snapshot of one bot: its leads, their sessions' generated conversations, and
    the messages appended at runtime (by a test, or through Send Message), served after those."""

    leads: BotLeads
    conversations: Conversations
    messages: Mapping[str, tuple[bytes, ...]] = field(default_factory=lambda: MappingProxyType({}))
    """Session id -> its appended messages as JSON texts, oldest first."""
    appended: int = 0
    """How many so far: numbers the next one, which seeds its id and text."""
    messages_end_ms: int = 0
    raw_messages: bool = False
    started: frozenset[str] = frozenset()
    """Sessions Send Message started: no generated history, served whether listed or not."""

    @property
    def conforming(self) -> bool:
        """Whether the messages are meant to match the spec (not quirky, nothing raw)."""
        return not (self.conversations.quirks or self.raw_messages)

    @property
    def end_ms(self) -> int:
        """An instant after every lead and message of the bot, generated or appended."""
        return max(self.messages_end_ms, self.leads.end_ms + self.conversations.span_ms)

    def has_session(self, session_id: str) -> bool:
        """A session of one of the bot's leads, or one Send Message started (listed or not)."""
        return session_id in self.leads.sessions or session_id in self.started

    def element_chunks(self, session_ids: Sequence[str] | None, k: int) -> Iterator[bytes]:
        """The messages of the sessions a request names (once each, in its order, without those
        the bot does not have), or without ids of the `k` most recent sessions, as JSON chunks
        generated session by session as the body streams, so memory stays flat however many
        messages a response holds."""
        if session_ids is None:
            session_ids = self.leads.sessions_by_time[-k:] if k > 0 else ()
        sessions, appended = self.leads.sessions, self.messages
        for session_id in dict.fromkeys(session_ids):  # one the bot does not have adds nothing
            lead_ms = sessions.get(session_id)
            if lead_ms is not None and session_id not in self.started:
                yield self.conversations.session_chunk(self.leads.bot_id, session_id, lead_ms)
            if session_id in appended:
                yield b",".join(appended[session_id])

    def with_messages(
        self, session_id: str, items: Sequence[tuple[Any, int]], raw: bool, started: bool = False
    ) -> BotChats:
        """This bot plus `items` ((message, its epoch ms), oldest first) at the session's end."""
        messages = dict(self.messages)
        messages[session_id] = (*messages.get(session_id, ()), *map(orjson.dumps, (i for i, _ in items)))  # fmt: skip
        return replace(
            self,
            messages=MappingProxyType(messages),
            appended=self.appended + len(items),
            messages_end_ms=max([self.messages_end_ms, *(at_ms + 1 for _, at_ms in items)]),
            raw_messages=self.raw_messages or raw,
            started=self.started | {session_id} if started else self.started,
        )


class BotExistsError(KeyError):
    """`add_bot` for a bot id the store already has."""


class Store:
    """The bots, their leads and their chats, shared between the server thread and the test
    thread. Every change to a bot goes through `_commit`, so writers never interleave."""

    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.conversations = Conversations(config.seed, config.messages_per_session, config.quirks)
        self._lock = threading.Lock()
        self._bots: dict[str, BotChats] = {}
        Store.reset(self)

    def reset(self) -> None:
        """Back to the configured bots with their seeded leads and conversations."""
        bots = {b: self._fresh(b, self.config.leads_per_bot, None) for b in self.config.bots}
        with self._lock:
            self._bots = bots

    def bots(self) -> dict[str, int]:
        """Each bot and how many leads it serves now."""
        with self._lock:
            return {bot_id: bot.leads.count for bot_id, bot in self._bots.items()}

    def snapshot(self, bot_id: str) -> BotChats | None:
        with self._lock:
            return self._bots.get(bot_id)

    def leads(self, bot_id: str) -> list[Any]:
        """What the bot serves now, as Python objects."""
        return parse_chunks(self._require(bot_id).leads.element_chunks())

    def chats(
        self,
        bot_id: str,
        session_ids: Sequence[str] | None = None,
        k: int = DEFAULT_RECENT_SESSIONS,
    ) -> list[Any]:
        """What Get Chat History serves now for these sessions (or, without ids, the `k` most
        recent ones), as Python objects."""
        return parse_chunks(self._require(bot_id).element_chunks(session_ids, k))

    def add_bot(
        self, bot_id: str, count: int | None = None, leads: Sequence[Any] | None = None
    ) -> None:
        """A new bot with `count` seeded leads (default none) or the given `leads`."""
        if not isinstance(bot_id, str) or not bot_id or "/" in bot_id:
            raise ValueError(f"bot id {bot_id!r} must be a non-empty text without '/'")
        fresh = self._fresh(bot_id, 0 if count is None and leads is None else count, leads)
        with self._lock:
            if bot_id in self._bots:
                raise BotExistsError(f"bot {bot_id!r} already exists; set its leads instead")
            self._bots[bot_id] = fresh

    def append(
        self, bot_id: str, count: int | None = None, leads: Sequence[Any] | None = None
    ) -> list[Any]:
        """Add leads after the existing ones and return them: `count` new seeded leads created
        later than any lead or message so far (a new conversation starts after all the bot's
        activity, as it would between two syncs), or `leads` served verbatim."""

        def change(bot: BotChats) -> tuple[BotChats, Segment]:
            segment = self._segment(bot_id, count, leads, bot)
            return replace(bot, leads=bot.leads.with_segment(segment)), segment

        return parse_chunks(self._commit(bot_id, change).chunks())

    def set_leads(
        self, bot_id: str, leads: Sequence[Any] | None = None, *, count: int | None = None
    ) -> None:
        """Replace a bot's leads with `leads` (verbatim) or `count` freshly seeded leads; the
        messages appended to its old sessions go with them."""
        fresh = self._fresh(bot_id, count, leads)
        self._commit(bot_id, lambda _: (fresh, None))

    def append_message(
        self,
        bot_id: str,
        session_id: str,
        *,
        content: str | None = None,
        type: str = "human",
        raw: Mapping[str, Any] | None = None,
    ) -> Any:
        """Add a message to a session of the bot's leads and return it: created after every
        message the bot had, with a seeded id, `type`, and `content` (a seeded text of that type
        when None); or `raw`, served verbatim (to break the spec on purpose)."""
        if raw is not None and (content is not None or not isinstance(raw, Mapping)):
            raise ValueError("give content= or raw= (an object), not both")
        if not isinstance(content, str | None) or not isinstance(type, str):
            raise ValueError("content and type must be texts")

        def change(bot: BotChats) -> tuple[BotChats, Any]:
            if session_id not in bot.leads.sessions:
                raise KeyError(f"bot {bot_id!r} has no lead with session_id {session_id!r}")
            at_ms = bot.end_ms + MESSAGE_APPEND_GAP_MS
            if raw is not None:
                item: Any = dict(raw)
                at_ms = max(at_ms, _epoch_ms(item.get("created_at")) or 0)
            else:
                made = self.conversations.appended
                item = made(bot_id, session_id, bot.appended, at_ms, content, type)
            return bot.with_messages(session_id, [(item, at_ms)], raw is not None), item

        return self._commit(bot_id, change)

    def send_message(self, bot_id: str, message: str, session_id: str | None = None) -> Exchange:
        """An end user chats, as `POST /v1/{bot_id}` does, without a key, faults or a journal
        entry (`.response()` of the result is what it answers): the visitor's `message` and the
        agent's reply, recorded in that order at the end of the session, both after every
        message the bot had (so no incremental cursor saved earlier skips them), the reply
        strictly later.

        Without `session_id` (or with one the bot has no session for) a session starts: its id
        is the widget's form, `<bot id>-<epoch ms>` unless one was given, and unless the store
        was made with `list_sent_sessions=False` Get Leads lists it from then on, created when it
        started, without contact fields."""
        if not isinstance(message, str) or not isinstance(session_id, str | None):
            raise ValueError("the message and its session id must be texts")

        def change(bot: BotChats) -> tuple[BotChats, Exchange]:
            at_ms = bot.end_ms + MESSAGE_APPEND_GAP_MS
            session, lead = session_id, None
            known = session_id is not None and bot.has_session(session_id)
            if not known:
                if session is None:  # the widget's form, one the bot does not have yet
                    fresh_ms = at_ms
                    while bot.has_session(f"{bot_id}-{fresh_ms}"):
                        fresh_ms += 1
                    session = f"{bot_id}-{fresh_ms}"
                if self.config.list_sent_sessions:
                    lead = {"session_id": session, "created_at": spec_timestamp(at_ms)}
                    segment = raw_segment([lead], at_ms, conforming=True)
                    bot = replace(bot, leads=bot.leads.with_segment(segment))
            number = bot.appended
            answer = replies.reply(self.config.seed, bot_id, session, number, message)
            reply_ms = at_ms + 1000 + number * 7919 % 14_000
            made = self.conversations.appended
            human = made(bot_id, session, number, at_ms, message, "human")
            ai = made(bot_id, session, number + 1, reply_ms, answer.content, "ai")
            bot = bot.with_messages(session, [(human, at_ms), (ai, reply_ms)], False, not known)
            return bot, Exchange(session, human, ai, answer, lead)

        return self._commit(bot_id, change)

    def _commit(self, bot_id: str, change: Callable[[BotChats], tuple[BotChats, T]]) -> T:
        """Apply `change` to the bot and return its result, atomically: computed outside the
        lock (a big bot's session index may take a while to build) and stored only if nothing
        moved meanwhile, else computed again. Two writers to one bot thus never interleave, and
        each one's messages come after the other's."""
        while True:
            snapshot = self._require(bot_id)
            changed, result = change(snapshot)
            with self._lock:
                if self._bots.get(bot_id) is snapshot:
                    self._bots[bot_id] = changed
                    return result

    def _require(self, bot_id: str) -> BotChats:
        snapshot = self.snapshot(bot_id)
        if snapshot is None:
            raise KeyError(f"no bot {bot_id!r}; known bots: {list(self.bots())}")
        return snapshot

    def _fresh(self, bot_id: str, count: int | None, leads: Sequence[Any] | None) -> BotChats:
        """A bot from scratch: its leads and no messages yet."""
        leads_only = BotLeads(bot_id).with_segment(self._segment(bot_id, count, leads, None))
        return BotChats(leads_only, self.conversations)

    def _segment(
        self, bot_id: str, count: int | None, leads: Sequence[Any] | None, after: BotChats | None
    ) -> Segment:
        """`count` new seeded leads or `leads` verbatim, a new bot's or created after everything
        the bot `after` has: the one check of exactly one of them (a whole count >= 0, leads in
        a list), for every caller (Python, admin, fixtures)."""
        if (count is None) == (leads is None):
            raise ValueError("give exactly one of count or leads")
        if leads is not None:
            if not isinstance(leads, list | tuple):
                raise ValueError(f"leads must be a list, got {type(leads).__name__}")
            return raw_segment(leads, after.end_ms if after else 0)
        if type(count) is not int or count < 0:
            raise ValueError(f"count must be a whole number >= 0, got {count!r}")
        seed, quirks = self.config.seed, self.config.quirks
        if after is None:
            timeline, start = base_timeline(seed, bot_id, count), 0
        else:
            timeline, start = Timeline(after.end_ms, APPEND_GAP_MS), after.leads.next_index
        chunks = partial(lead_chunks, seed, bot_id, count, quirks=quirks, start_index=start, timeline=timeline)  # fmt: skip
        return Segment(count, timeline.end_ms(count), chunks, generated=True, conforming=not quirks)
