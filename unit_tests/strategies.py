"""Hypothesis strategies for ChatNode leads and chat messages, built from the spec's
`Conversation` and `Chat` schemas at runtime.

Shared by the unit and integration tests, so that every property draws leads the same way. The
schema decides which fields exist, their types and which are required; the strategies then widen
it with what real APIs send besides: timestamps with 0-6 fraction digits and any offset, optional
fields absent or null, unknown extra fields, unicode text, shared instants and unordered arrays.
`spec_conversations` and `spec_chats` draw only what the spec allows, for tests that judge
conformance; the JSON-type and date-time-text strategies feed the tests that break a record on
purpose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from chatnode_spec import component_schema

Lead = dict[str, Any]

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2025, 1, 1, tzinfo=UTC)
"""Generated leads lie in the past: a lead dated after the sync's start is held back until a
later sync (documented; `test_a_lead_stamped_ahead_of_the_clock_is_held_back_not_lost`)."""

UTC_OFFSETS = tuple(
    timedelta(minutes=m) for m in (0, 60, 120, -300, 330, 345, -570, 840, -720, -60)
)
"""Offsets a timestamp may be written in; far apart, so string order and instant order differ."""
ZERO_OFFSET_FORMS = ("Z", "+00:00", "-00:00")

NEAR = tuple(
    timedelta(**unit)
    for unit in (
        {},
        {"microseconds": 1},
        {"microseconds": -1},
        {"milliseconds": 1},
        {"milliseconds": -999},
        {"seconds": 1},
        {"seconds": -1},
        {"minutes": 7},
        {"hours": -3},
        {"days": 1},
        {"days": -400},
    )
)
"""Distances between pooled instants: equal, a microsecond apart, across a second, days apart."""

UNDATED_CREATED_AT: tuple[Any, ...] = (
    None,
    "",
    "yesterday",
    "2024-06-30",
    "2024-06-31T10:00:00Z",
    "2016-12-31T23:59:60Z",
    "1719768767426",
    1719768767426,
)
"""`created_at` values a sloppy API may send that name no instant: null, empty, words, a date
without a time, an impossible day, a leap second, epoch milliseconds as text and as a number."""

_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})?"
)


def instant_of(value: Any) -> datetime | None:
    """The instant a `created_at` names, or None when it names none.

    The test oracle, independent of the connector's own parsing: RFC 3339 date-times with any
    offset and 0-6 fraction digits, and (as the connector documents) one without an offset read
    as UTC. Everything else cannot be placed in time.
    """
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        return None
    try:
        moment = datetime.fromisoformat(value.upper())  # RFC 3339 allows a lower-case t and z
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def render_rfc3339(instant: datetime, fraction_digits: int, offset: timedelta, zero: str) -> str:
    """`instant` as RFC 3339 with 0-6 fraction digits in the given offset.

    The instant is truncated to the digits shown first, so the text names exactly one instant.
    """
    if not 0 <= fraction_digits <= 6:
        raise ValueError(f"fraction_digits must be within 0..6, got {fraction_digits}")
    step = 10 ** (6 - fraction_digits)
    instant = instant.replace(microsecond=instant.microsecond // step * step)
    wall = instant.astimezone(UTC) + offset
    text = wall.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction_digits:
        text += f".{wall.microsecond:06d}"[: fraction_digits + 1]
    if not offset:
        return text + zero
    sign, minutes = ("+" if offset > timedelta(0) else "-"), abs(offset) // timedelta(minutes=1)
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def instants(
    min_value: datetime = EARLIEST, max_value: datetime = LATEST
) -> SearchStrategy[datetime]:
    """Aware UTC instants with microsecond precision."""
    return st.datetimes(
        min_value=min_value.replace(tzinfo=None),
        max_value=max_value.replace(tzinfo=None),
        timezones=st.just(UTC),
    )


@st.composite
def instant_pools(draw: st.DrawFn) -> list[datetime]:
    """A handful of instants close together, so leads drawn from them collide or nearly do."""
    base = draw(instants(EARLIEST + timedelta(days=500), LATEST - timedelta(days=2)))
    return [base + delta for delta in draw(st.lists(st.sampled_from(NEAR), min_size=1, max_size=5))]


def rfc3339_timestamps(moments: SearchStrategy[datetime]) -> SearchStrategy[str]:
    """Each instant written in any of the forms RFC 3339 allows (digits, offsets, `Z`)."""
    return st.builds(
        render_rfc3339,
        moments,
        st.integers(min_value=0, max_value=6),
        st.sampled_from(UTC_OFFSETS),
        st.sampled_from(ZERO_OFFSET_FORMS),
    )


def timestamps_without_offset(moments: SearchStrategy[datetime]) -> SearchStrategy[str]:
    """The UTC wall clock without any offset, as some servers write it."""
    return st.builds(
        lambda moment, digits: render_rfc3339(moment, digits, timedelta(0), ""),
        moments,
        st.integers(min_value=0, max_value=6),
    )


def created_at_values(pool: Sequence[datetime] = ()) -> SearchStrategy[Any]:
    """Mostly timestamps (from `pool` when given, to share instants), sometimes no usable one."""
    moments = st.sampled_from(pool) | instants() if pool else instants()
    return st.one_of(
        rfc3339_timestamps(moments),
        rfc3339_timestamps(moments),
        rfc3339_timestamps(moments),
        timestamps_without_offset(moments),
        st.sampled_from(UNDATED_CREATED_AT),
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)
"""Any JSON value an unknown field may hold (integers kept to what JSON numbers carry exactly)."""

TYPE_STRATEGIES: Mapping[str, Callable[[], SearchStrategy[Any]]] = {
    "string": lambda: st.text(max_size=16),
    "boolean": st.booleans,
    "integer": lambda: st.integers(min_value=-(2**53), max_value=2**53),
    "number": lambda: st.floats(allow_nan=False, allow_infinity=False),
}
"""A strategy per JSON schema type; a format overrides it (see `conversations`)."""


def _value_strategy(
    schema: Mapping[str, Any], formats: Mapping[str, SearchStrategy[Any]]
) -> SearchStrategy[Any]:
    fmt = schema.get("format")
    if fmt in formats:
        return formats[fmt]
    kind = schema.get("type")
    if kind not in TYPE_STRATEGIES:
        raise ValueError(f"no strategy for schema type {kind!r}; add one to TYPE_STRATEGIES")
    return TYPE_STRATEGIES[kind]()


JSON_TYPE_VALUES: Mapping[str, SearchStrategy[Any]] = {
    **{name: make() for name, make in TYPE_STRATEGIES.items()},
    "array": st.lists(TYPE_STRATEGIES["integer"](), max_size=2),
    "object": st.dictionaries(st.text(max_size=4), TYPE_STRATEGIES["integer"](), max_size=2),
}
"""A value of each JSON type (null aside), to put where a schema expects another type."""


def values_not_of_type(json_type: str) -> SearchStrategy[Any]:
    """Values of every JSON type a schema of `json_type` rejects (an integer is a number;
    null is left out, as schemas say whether they take it with `nullable`)."""
    other = [
        name
        for name in JSON_TYPE_VALUES
        if name != json_type and not (json_type == "number" and name == "integer")
    ]
    return st.sampled_from(other).flatmap(lambda name: JSON_TYPE_VALUES[name])


@st.composite
def rfc3339_spellings(draw: st.DrawFn) -> str:
    """Any date-time RFC 3339 allows, in every spelling it allows: years 0001-9999, 0-9 fraction
    digits, `T` or `t`, `Z`, `z` or any offset up to 23:59 either way (`-00:00` included).
    Wider than `rfc3339_timestamps`, for parsers that must accept the whole RFC."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
    digits = draw(st.integers(0, 9))
    beyond_micros = draw(st.text("0123456789", min_size=3, max_size=3))
    fraction = (f"{moment.microsecond:06d}" + beyond_micros)[:digits]
    separator = draw(st.sampled_from("Tt"))
    offset = draw(
        st.sampled_from(["Z", "z", "+00:00"])
        | st.builds(
            lambda sign, hours, minutes: f"{sign}{hours:02d}:{minutes:02d}",
            st.sampled_from("+-"),
            st.integers(0, 23),
            st.integers(0, 59),
        )
    )
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}{separator}"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        + (f".{fraction}" if digits else "")
        + offset
    )


def date_time_lookalikes() -> SearchStrategy[str]:
    """Texts shaped like a date-time that RFC 3339 may refuse: a space for `T`, no offset, an
    offset without a colon, a dot without digits, out-of-range fields."""
    return st.from_regex(
        r"\A\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{0,7})?([Zz]|[+-]\d{2}:?\d{2})?\Z"
    )


@st.composite
def spec_conversations(draw: st.DrawFn, schema: Mapping[str, Any] | None = None) -> Lead:
    """A lead exactly as the spec allows it: every required field, any subset of the optional
    ones, each of its schema's type (null only where `nullable`), date-times in any RFC 3339
    spelling, nothing else."""
    schema = schema or component_schema("Conversation")
    required = set(schema.get("required", ()))
    formats = {"date-time": rfc3339_spellings()}
    lead: Lead = {}
    for name, prop in schema["properties"].items():
        if name in required or draw(st.booleans()):
            value = _value_strategy(prop, formats)
            lead[name] = draw(value | st.none() if prop.get("nullable") else value)
    return lead


def session_ids() -> SearchStrategy[str]:
    """Short ids over a tiny alphabet, so different bots share ids and keys must include the bot."""
    return st.text(alphabet="ab01-é", min_size=1, max_size=4)


def bot_ids() -> SearchStrategy[str]:
    """Bot ids that are prefixes of each other, differ only in case, or need URL encoding."""
    return st.text(alphabet="aA0-_é", min_size=1, max_size=4)


@st.composite
def conversations(
    draw: st.DrawFn,
    pool: Sequence[datetime] = (),
    schema: Mapping[str, Any] | None = None,
) -> Lead:
    """One lead as the API may send it, field by field from the `Conversation` schema.

    Required fields are present (a date-time one is sometimes missing, as sloppy APIs do);
    optional fields are present, absent or null; a few unknown fields may ride along, among them
    a stray `bot_id` that the connector's own must win over.
    """
    schema = schema or component_schema("Conversation")
    required = set(schema.get("required", ()))
    formats: dict[str, SearchStrategy[Any]] = {"date-time": created_at_values(pool)}
    # The key field draws from a tiny alphabet, so bots share session ids (see `session_ids`).
    overrides: dict[str, SearchStrategy[Any]] = {"session_id": session_ids()}
    lead: Lead = {}
    for name, prop in schema["properties"].items():
        value = overrides[name] if name in overrides else _value_strategy(prop, formats)
        if name in required:
            if prop.get("format") in formats and draw(st.integers(0, 15)) == 0:
                continue
            lead[name] = draw(value)
        elif draw(st.booleans()):
            lead[name] = draw(st.none() | value)
    known = set(schema["properties"])
    extra_names = st.sampled_from(["bot_id", "crm_id"]) | st.text(min_size=1, max_size=6)
    extras = draw(
        st.dictionaries(extra_names.filter(lambda n: n not in known), json_values, max_size=2)
    )
    return {**lead, **extras}


def lead_lists(
    pool: Sequence[datetime] = (), min_size: int = 0, max_size: int = 8
) -> SearchStrategy[list[Lead]]:
    """The leads of one bot: unique session ids, in no particular order."""
    return st.lists(
        conversations(pool),
        min_size=min_size,
        max_size=max_size,
        unique_by=lambda lead: lead["session_id"],
    )


@st.composite
def lead_histories(
    draw: st.DrawFn,
    bots: Sequence[str],
    batches: int,
    pool: Sequence[datetime] | None = None,
    max_leads: int = 10,
) -> dict[str, list[list[Lead]]]:
    """For each bot, its leads cut into `batches` arrivals: the first served at once, the rest
    appended later. Instants come from one shared pool, so an appended lead may be older than,
    equal to or newer than the bot's cursor, and bots share instants."""
    if pool is None:
        pool = draw(instant_pools())
    histories = {}
    for bot in bots:
        leads = draw(lead_lists(pool, max_size=max_leads))
        cuts = sorted(
            draw(st.lists(st.integers(0, len(leads)), min_size=batches - 1, max_size=batches - 1))
        )
        bounds = [0, *cuts, len(leads)]
        histories[bot] = [leads[lo:hi] for lo, hi in pairwise(bounds)]
    return histories


@st.composite
def served_bots(
    draw: st.DrawFn, min_bots: int = 1, max_bots: int = 3, max_leads: int = 10
) -> dict[str, list[Lead]]:
    """Several bots with their leads, drawing on one pool of instants."""
    bots = draw(st.lists(bot_ids(), min_size=min_bots, max_size=max_bots, unique=True))
    histories = draw(lead_histories(bots, batches=1, max_leads=max_leads))
    return {bot: batches[0] for bot, batches in histories.items()}


def start_dates(pool: Sequence[datetime] = ()) -> SearchStrategy[str]:
    """`start_date` values in the forms the spec's pattern accepts: on a lead's instant or next
    to it, inside the data, before all of it or after all of it."""
    near_pool = (
        st.builds(lambda i, d: i + d, st.sampled_from(pool), st.sampled_from(NEAR))
        if pool
        else instants()
    )
    moments = st.one_of(
        near_pool,
        instants(),
        instants(datetime(1990, 1, 1, tzinfo=UTC), EARLIEST),
        instants(LATEST, LATEST + timedelta(days=365)),
    )
    return rfc3339_timestamps(moments)


# --- Chat messages (the `Chat` schema of POST /get-chats/{bot_id}) ---------------------------

Chat = dict[str, Any]

MESSAGE_TYPES = ("human", "ai")
"""The message types the spec's example shows; any other is data a client must pass through."""

MESSAGE_TEXTS = (
    "",
    "Hello there! How can I assist you today?",
    "How much is the Pro plan?",
    "line one\nline two\n",
    "Quelle est la différence ? 🤔",
    "料金プランについて教えてください。",
    "👍🏽🚀",
    '"quoted" \\ back\\slash\ttab',
)
"""Texts a chat holds: empty, plain, multi-line, accented, CJK, emoji (with a modifier), and the
characters JSON must escape."""


def message_contents() -> SearchStrategy[str]:
    """Free text as visitors and agents write it: the samples above, or any unicode at all."""
    return st.sampled_from(MESSAGE_TEXTS) | st.text(max_size=40)


def message_types() -> SearchStrategy[str]:
    """Mostly `human` and `ai`, sometimes another type (`system`, or any text)."""
    return (
        st.sampled_from(MESSAGE_TYPES) | st.sampled_from(["system", "tool"]) | st.text(max_size=6)
    )


@st.composite
def chat_message_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A chat's `message` as the spec's example shows it: `{"data": {"type": t, "content":
    text}, "type": t}`. The spec types it only as an object, so everything inside is data."""
    kind = draw(message_types())
    return {"data": {"type": kind, "content": draw(message_contents())}, "type": kind}


def message_ids() -> SearchStrategy[str]:
    """Short ids over a tiny alphabet, so sessions and bots share message ids and keys must
    include the bot (the spec's example, `9ds49k9cncp7bmp`, is 15 lowercase alphanumerics)."""
    return st.text(alphabet="ab01", min_size=1, max_size=4)


def _is_date_time(prop: Mapping[str, Any]) -> bool:
    """A string property that names an instant: `format: date-time`, or (the Chat schema's
    `created_at`, which has no format) an example that is a timestamp."""
    return prop.get("format") == "date-time" or instant_of(prop.get("example")) is not None


def _chat_value(
    name: str,
    prop: Mapping[str, Any],
    session_of: SearchStrategy[str],
    timestamps: SearchStrategy[Any],
) -> SearchStrategy[Any]:
    """The strategy for one `Chat` property, from its schema (type, example) and its role."""
    if prop.get("type") == "object":
        return chat_message_objects()
    if name == "session_id":
        return session_of
    if name == "id":
        return message_ids()
    if _is_date_time(prop):
        return timestamps
    return _value_strategy(prop, {})


def _session_of(sessions: Sequence[str]) -> SearchStrategy[str]:
    """One of the given sessions, or (none given) any from `session_ids`."""
    return st.sampled_from(list(sessions)) if sessions else session_ids()


@st.composite
def spec_chats(
    draw: st.DrawFn,
    sessions: Sequence[str] = (),
    schema: Mapping[str, Any] | None = None,
) -> Chat:
    """A message exactly as the spec allows it: every required field, any subset of the optional
    ones, each of its schema's type, `created_at` an RFC 3339 timestamp in any form, nothing
    else. Its `session_id` is one of `sessions` when given."""
    schema = schema or component_schema("Chat")
    required = set(schema.get("required", ()))
    session_of = _session_of(sessions)
    timestamps = rfc3339_timestamps(instants())
    message: Chat = {}
    for name, prop in schema["properties"].items():
        if name in required or draw(st.booleans()):
            message[name] = draw(_chat_value(name, prop, session_of, timestamps))
    return message


@st.composite
def chats(
    draw: st.DrawFn,
    sessions: Sequence[str] = (),
    pool: Sequence[datetime] = (),
    schema: Mapping[str, Any] | None = None,
) -> Chat:
    """One message as the API may send it, field by field from the `Chat` schema.

    Required fields are present, except that `created_at` is sometimes missing or names no
    instant (as sloppy APIs do); timestamps come from `pool` when given, to share instants with
    leads and other messages; a few unknown fields may ride along, among them a stray `bot_id`.
    """
    schema = schema or component_schema("Chat")
    session_of = _session_of(sessions)
    message: Chat = {}
    for name, prop in schema["properties"].items():
        dated = _is_date_time(prop)
        if dated and draw(st.integers(0, 15)) == 0:
            continue
        message[name] = draw(_chat_value(name, prop, session_of, created_at_values(pool)))
    known = set(schema["properties"])
    extra_names = st.sampled_from(["bot_id", "feedback", "sources"]) | st.text(
        min_size=1, max_size=6
    )
    extras = draw(
        st.dictionaries(extra_names.filter(lambda n: n not in known), json_values, max_size=2)
    )
    return {**message, **extras}


def chat_lists(
    sessions: Sequence[str] = (),
    pool: Sequence[datetime] = (),
    min_size: int = 0,
    max_size: int = 8,
) -> SearchStrategy[list[Chat]]:
    """The messages one chats response may hold for these sessions: unique ids, in no particular
    order, sessions interleaved."""
    return st.lists(
        chats(sessions, pool),
        min_size=min_size,
        max_size=max_size,
        unique_by=lambda message: message["id"],
    )


@st.composite
def chat_histories(
    draw: st.DrawFn,
    sessions: Sequence[str],
    batches: int,
    pool: Sequence[datetime] | None = None,
    max_messages: int = 10,
) -> list[list[Chat]]:
    """The messages of these sessions cut into `batches` arrivals: the first served at once, the
    rest appended later (conversations continue), each newer than, as old as, or older than a
    cursor, as the shared pool of instants makes them."""
    if pool is None:
        pool = draw(instant_pools())
    messages = draw(chat_lists(sessions, pool, max_size=max_messages))
    cuts = sorted(
        draw(st.lists(st.integers(0, len(messages)), min_size=batches - 1, max_size=batches - 1))
    )
    bounds = [0, *cuts, len(messages)]
    return [messages[lo:hi] for lo, hi in pairwise(bounds)]
