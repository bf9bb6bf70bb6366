"""Seeded data for both streams: a bot's leads and its sessions' messages, each a pure function
of its inputs.

Randomness is SHAKE-256 over (seed, bot id, label): the same everywhere, and prefix-stable, so
any run of records is generated without those before it and a million-record body is written
chunk by chunk from precomputed tables, never held whole. With quirks on, one function, `quirk`,
bends either stream's records into what a loose API may send, at the same instants. Timestamps
are exact integer milliseconds: no float ever carries an instant.
"""

from __future__ import annotations

import copy
import hashlib
import struct
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any, TypeVar

import orjson

T = TypeVar("T")

# --- Randomness and ids ----------------------------------------------------------------------

ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


def digest(seed: int, bot_id: str, label: str, size: int) -> bytes:
    """Stable random bytes for (seed, bot, label); asking for fewer gives the same first ones."""
    return hashlib.shake_256(f"{seed}\x1f{bot_id}\x1f{label}".encode()).digest(size)


def alnum_table(width: int, multiplier: int) -> list[str]:
    """65,536 lowercase alphanumeric strings of `width`, so a random 16-bit number picks one;
    a multiplier coprime with 36**width spreads them evenly."""
    space, places = len(ALNUM) ** width, [len(ALNUM) ** p for p in range(width)]
    return [
        "".join(ALNUM[i * multiplier % space // p % len(ALNUM)] for p in places)
        for i in range(65536)
    ]


ALNUM4 = alnum_table(4, 25_717)
ALNUM3 = alnum_table(3, 7_919)


def stretch(table: list[T], size: int = 256) -> list[T]:
    """Repeat a table to `size` entries so a random byte indexes it without a modulo."""
    return [table[i % len(table)] for i in range(size)]


def uuid_text(raw: bytes) -> str:
    """A version-4 UUID in text form from 16 random bytes (Send Message's example form)."""
    h = raw[:16].hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[raw[8] & 3]}{h[17:20]}-{h[20:32]}"


# --- Timestamps: the spec's example form `2024-06-30T17:32:53.518+00:00`, in exact integers ----

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_MS = 86_400_000
MINUTE_OF_DAY = [f"{m // 60:02d}:{m % 60:02d}:" for m in range(1440)]
MS_OF_MINUTE = [f"{ms // 1000:02d}.{ms % 1000:03d}" for ms in range(60_000)]


@cache
def day_prefix(day: int) -> str:
    """`YYYY-MM-DDT` of a day since the epoch: the hot loops' one call per record."""
    return (EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")


def spec_timestamp(ms: int) -> str:
    """Epoch milliseconds in the spec's example form (the hot loops write the same from tables)."""
    return (EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")


def parse_ms(text: str) -> int:
    """Epoch milliseconds (floored) of an ISO 8601 timestamp with an offset, else ValueError."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no offset")
    return (moment - EPOCH) // timedelta(milliseconds=1)


QUIRK_OFFSETS_MIN = [0, 0, 120, -300, 330, 60, -420, 540]
"""UTC offsets (minutes) a quirky API may render timestamps in; 0 appears as `Z` or `+00:00`."""


def quirk_timestamp(ms: int, micro: int, digits: int, offset_pick: int) -> str:
    """`ms` (+ `micro` µs when more than 3 digits show) with 0-6 fraction digits and a `Z`,
    `+00:00` or non-UTC offset; the wall clock moves with the offset so the instant holds."""
    offset = timedelta(minutes=QUIRK_OFFSETS_MIN[offset_pick & 7])
    moment = EPOCH + timedelta(milliseconds=ms, microseconds=micro if digits > 3 else 0)
    text = moment.astimezone(timezone(offset)).isoformat(timespec="microseconds")
    suffix = "Z" if offset_pick & 8 and not offset else text[26:]
    return text[: 20 + digits if digits else 19] + suffix


# --- Quirks: the same records, as a loose API may send them -----------------------------------

QUIRK_CHOICE = struct.Struct("<BBBBBHB")
"""Per record, from bytes of its own (so quirks never change the record underneath): fraction
digits, offset, nulls (a bit per optional field), extra, order key, microseconds, odd value."""


@dataclass(frozen=True)
class Quirks:
    """What a loose API does to one stream's records; rates are out of 256."""

    extras: tuple[tuple[str, tuple[Any, ...]], ...]
    """Fields the spec does not know, and the values they take."""
    extra_rate: int
    window: int
    """Records are shuffled within windows of this many: out of order, but only locally."""
    optional: tuple[str, ...] = ()
    """Optional fields: when absent, a record may carry them as null instead."""
    odd: tuple[tuple[str, Any], ...] = ()
    """A field and a value the spec's example never shows, rarely put in its place."""
    odd_rate: int = 0


def quirk(record: dict[str, Any], choice: tuple[int, ...], kinds: Quirks) -> dict[str, Any]:
    """`record` with `created_at` in another form at the same instant, absent optional fields as
    null, an unknown field, an odd value, as `choice` (a `QUIRK_CHOICE`) picks."""
    digits, offset_pick, nulls, extra, _, micro, odd = choice
    at_ms = parse_ms(record["created_at"])
    record["created_at"] = quirk_timestamp(at_ms, micro % 1000, digits % 7, offset_pick)
    for bit, key in enumerate(kinds.optional):
        if key not in record and nulls >> bit & 1:
            record[key] = None
    if extra < kinds.extra_rate:
        name, values = kinds.extras[extra % len(kinds.extras)]
        record[name] = copy.deepcopy(values[extra // len(kinds.extras) % len(values)])
    if odd < kinds.odd_rate:
        name, value = kinds.odd[odd % len(kinds.odd)]
        record[name] = copy.deepcopy(value)
    return record


def quirky_chunk(texts: list[str], choices: bytes, kinds: Quirks) -> bytes:
    """Records (JSON texts) as a chunk of their quirk forms, shuffled locally by order key (the
    sort is stable, so equal keys keep their order)."""
    records = orjson.loads("[" + ",".join(texts) + "]")
    pairs = zip(records, QUIRK_CHOICE.iter_unpack(choices), strict=True)
    keyed = [(choice[4], quirk(record, choice, kinds)) for record, choice in pairs]
    shuffled = []
    for lo in range(0, len(keyed), kinds.window):
        shuffled.extend(r for _, r in sorted(keyed[lo : lo + kinds.window], key=lambda e: e[0]))
    return orjson.dumps(shuffled)[1:-1]


def parse_chunks(chunks: Iterable[bytes]) -> list[Any]:
    """Records from chunks of JSON text `{...},{...}` (empty ones skipped)."""
    return orjson.loads(b"[" + b",".join(c for c in chunks if c) + b"]")


# --- Leads -----------------------------------------------------------------------------------

CHUNK_SIZE = 1024
"""Leads per generated chunk: enough to amortise per-chunk work, few enough to stream."""
BASE_START_MS = (datetime(2024, 1, 1, tzinfo=UTC) - EPOCH) // timedelta(milliseconds=1)
BASE_SPAN_MS = 365 * DAY_MS
"""A bot's base leads spread over one year from 2024, whatever their number."""
APPEND_GAP_MS = 90_000
"""Mean spacing of leads appended at runtime (they arrive after everything already stored)."""

_LEAD = struct.Struct("<IHHHHBHHBB")
"""Random bytes per lead: created_at jitter, session prefix (two parts), session lag, person,
phone head, phone digits (two parts), has phone, for_agent."""

_FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Daniel", "Karen", "Matthew", "Nancy", "Anthony", "Lisa", "Mark", "Emily", "Steven",
    "Michelle", "Andrew", "Laura", "Kevin", "Rebecca", "Brian", "Amanda", "Olivia", "Noah", "Emma",
    "Liam", "Sophia", "Lucas", "Mia", "Ethan", "Chloé", "Léa", "Hugo", "Zoë", "Jürgen", "Lukas",
    "Hannah", "Felix", "Sofía", "Mateo", "Lucía", "Martín", "Giulia", "Lorenzo", "Aarav", "Priya",
    "Rohan", "Ananya", "Wei", "Mei", "Hiroshi", "Yuki", "Min-jun", "Seo-yeon", "Olumide", "Amara",
    "Kwame", "Fatima", "Omar", "Layla", "Mehmet", "Elif", "Björn", "Astrid", "Søren", "Ingrid",
    "Pierre", "Camille", "João", "Ana", "Tomasz", "Zofia", "Ivan", "Olga", "Dmitri", "Nadia",
    "Diego", "Valentina", "Santiago", "Isabella", "Jack", "Grace", "Oliver", "Charlotte",
]  # fmt: skip
_LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Clark", "Lewis",
    "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Dubois", "Lefèvre",
    "Moreau", "Rossi", "Russo", "Ferrari", "Fernández", "García López", "Silva", "Santos",
    "Oliveira", "Kowalski", "Nowak", "Novák", "Ivanova", "Petrov", "Andersson", "Johansson",
    "Nielsen", "Hansen", "Virtanen", "Öztürk", "Kaya", "Haddad", "Khan", "Patel", "Sharma",
    "Singh", "Kumar", "Wang", "Li", "Zhang", "Chen", "Liu", "Tanaka", "Suzuki", "Sato", "Kim",
    "Park", "Choi", "Okafor", "Mensah", "Adeyemi", "Mwangi", "O'Brien", "O'Connor", "MacDonald",
    "van der Berg", "de Jong", "Jansen",
]  # fmt: skip
# Reserved example domains: addresses look real to a parser but can never reach a real inbox.
_DOMAINS = [
    "example.com", "example.org", "example.net", "mail.example.com", "inbox.example.org",
    "acme.example", "globex.example", "initech.example", "umbrella.example", "hooli.example",
    "contoso.example", "northwind.example", "fabrikam.example", "piedpiper.example",
    "stark.example", "wayne.example",
]  # fmt: skip
# Heads of E.164 numbers (country code and area or mobile prefix), each completed by 7 random
# digits: the spec's example is `+13434346567`.
_PHONE_HEADS = [
    "+1212", "+1310", "+1415", "+1512", "+1617", "+1646", "+1702", "+1737", "+1303", "+1404",
    "+1206", "+1312", "+1343", "+1416", "+1604", "+1919", "+44742", "+44770", "+44791",
    "+49151", "+49171", "+49160", "+3361", "+3375", "+3461", "+3465", "+6141", "+61401",
    "+91981", "+91987", "+8190", "+8180", "+55119", "+55219", "+5255", "+3161",
]  # fmt: skip

LEAD_QUIRKS = Quirks(
    optional=("enduser_name", "enduser_email", "enduser_phone", "for_agent"),
    extras=(
        ("visitor_country", ("US", "DE", "FR", "IN", "BR", "JP")),
        ("utm_source", ("google", "newsletter", "linkedin", "direct")),
        ("page_url", ("https://example.com/pricing", "https://example.com/", "https://example.com/demo")),
        ("rating", (1, 2, 3, 4, 5)),
    ),
    extra_rate=90,
    window=8,
)  # fmt: skip

_ASCII_FORMS = {
    "Jürgen": "juergen",
    "Müller": "mueller",
    "Søren": "soren",
    "van der Berg": "vandenberg",
}


def ascii_form(name: str) -> str:
    """A name as an email address writes it: lowercase ASCII letters and digits, accents dropped
    (German umlauts spelt out, and the few NFKD cannot fold, from `_ASCII_FORMS`)."""
    folded = unicodedata.normalize("NFKD", name.lower())
    return _ASCII_FORMS.get(name) or "".join(c for c in folded if c.isascii() and c.isalnum())


_FIRST = stretch([(name, ascii_form(name)) for name in _FIRST_NAMES])
_LAST = stretch([(name, ascii_form(name)) for name in _LAST_NAMES])
_PHONE_HEAD = stretch(_PHONE_HEADS)
_DIGITS4 = [f"{i % 10_000:04d}" for i in range(65536)]
_DIGITS3 = [f"{i % 1_000:03d}" for i in range(65536)]
_AGENT = [',"for_agent":true'] * 45 + [',"for_agent":false'] * 190 + [""] * 21
"""for_agent by random byte: mostly false, sometimes true, sometimes absent."""

for _text in _FIRST_NAMES + _LAST_NAMES + _DOMAINS:
    if orjson.dumps(_text) != f'"{_text}"'.encode():  # the hot loop splices them unescaped
        raise ValueError(f"table entry {_text!r} needs JSON escaping")


@dataclass(frozen=True)
class Timeline:
    """When generated leads happened: lead k (k = 0, 1, ...) at start + k * gap + (jitter < gap),
    so strictly ascending, and computable for any k without the leads before it."""

    start_ms: int
    gap_ms: int

    def end_ms(self, count: int) -> int:
        """An instant after every one of `count` leads on this timeline."""
        return self.start_ms + max(count, 0) * self.gap_ms + 1000


def base_timeline(seed: int, bot_id: str, count: int) -> Timeline:
    """The timeline of a bot's initial leads: one year from 2024 plus a per-bot offset of days."""
    offset = int.from_bytes(digest(seed, bot_id, "start", 4), "little") % (30 * DAY_MS)
    return Timeline(BASE_START_MS + offset, max(1, BASE_SPAN_MS // max(count, 1)))


def _render_leads(records: Iterator[tuple[int, ...]], start_ms: int, gap_ms: int) -> list[str]:
    """Leads as JSON text exactly as orjson writes them: the hot loop of a million-lead body,
    table lookups and f-strings only."""
    persons, agents, heads, d4, d3 = _person_fragments(), _AGENT, _PHONE_HEAD, _DIGITS4, _DIGITS3
    p4, p3, minutes, seconds, days = ALNUM4, ALNUM3, MINUTE_OF_DAY, MS_OF_MINUTE, day_prefix
    out = []
    created = start_ms
    for jitter, pa, pb, lag, person, head, da, db, has_phone, agent in records:
        ms = created + jitter % gap_ms
        created += gap_ms
        day, rest = divmod(ms, DAY_MS)
        minute, ms_of_minute = divmod(rest, 60_000)
        phone = f',"enduser_phone":"{heads[head]}{d4[da]}{d3[db]}"' if has_phone < 150 else ""
        out.append(
            f'{{"session_id":"{p4[pa]}{p3[pb]}-{ms - lag - 1500}","created_at":"'
            f'{days(day)}{minutes[minute]}{seconds[ms_of_minute]}+00:00"'
            f"{persons[person]}{phone}{agents[agent]}}}"
        )
    return out


@cache
def _person_fragments() -> list[str]:
    """65,536 ready `,"enduser_name":...,"enduser_email":...` fragments (some without name or
    email), built once (about 0.1 s) so the hot loop does one lookup per person."""
    raw = hashlib.shake_256(b"chatnode-mock persons").digest(65536 * 6)
    fragments = []
    for first, last, style, number, has_name, has_email in struct.iter_unpack("<6B", raw):
        text = f',"enduser_name":"{_FIRST[first][0]} {_LAST[last][0]}"' if has_name < 225 else ""
        if has_email < 205:
            text += f',"enduser_email":"{_email(first, last, style, number)}"'
        fragments.append(text)
    return fragments


def _email(first: int, last: int, style: int, number: int) -> str:
    """A plausible address built from the lead's own name, in one of a few common styles."""
    f, la, domain = _FIRST[first][1], _LAST[last][1], _DOMAINS[style >> 4]
    kind = style & 7
    if kind < 3:
        return f"{f}.{la}@{domain}"
    local = {3: f"{f[0]}{la}", 4: f"{f}{la}{number}", 5: f"{f}_{la}", 6: f"{la}.{f}"}
    return f"{local.get(kind, f'{f}{number % 100:02d}')}@{domain}"


def lead_chunks(
    seed: int,
    bot_id: str,
    count: int,
    *,
    quirks: bool = False,
    start_index: int = 0,
    timeline: Timeline | None = None,
) -> Iterator[bytes]:
    """Leads `start_index .. start_index + count` of a bot as chunks of JSON text `{...},{...}`
    (see `responses.json_array`), on `base_timeline(seed, bot_id, count)` by default."""
    timeline = timeline or base_timeline(seed, bot_id, count)
    stop, index = start_index + count, start_index
    while index < stop:
        chunk_number, offset = divmod(index, CHUNK_SIZE)
        take = min(CHUNK_SIZE - offset, stop - index)
        raw = digest(seed, bot_id, f"leads:{chunk_number}", (offset + take) * _LEAD.size)
        start_ms = timeline.start_ms + (index - start_index) * timeline.gap_ms
        texts = _render_leads(
            _LEAD.iter_unpack(raw[offset * _LEAD.size :]), start_ms, timeline.gap_ms
        )
        if quirks:
            size = QUIRK_CHOICE.size
            choices = digest(seed, bot_id, f"quirks:{chunk_number}", (offset + take) * size)
            yield quirky_chunk(texts, choices[offset * size :], LEAD_QUIRKS)
        else:
            yield ",".join(texts).encode()
        index += take


def leads_for_bot(seed: int, bot_id: str, count: int, **options: Any) -> Iterator[dict[str, Any]]:
    """The same leads as dicts, parsed from `lead_chunks` (so both never disagree)."""
    for chunk in lead_chunks(seed, bot_id, count, **options):
        yield from parse_chunks([chunk])


# --- Chats: each lead's session has a conversation -------------------------------------------

DEFAULT_MESSAGES_PER_SESSION = (0, 8)
MAX_MESSAGES_PER_SESSION = 10_000
"""The most `messages_per_session` may ask for: a seeded session is built whole in memory."""
MAX_GAP_MS = 180_000
"""A message comes at most this long after the one before it (or after the lead, for the first)."""
_AI_GAP_MS = 15_000
"""The agent answers faster than people type."""

_MESSAGE = struct.Struct("<HHHHBH")
"""Random bytes per message: id (four 16-bit parts), exchange, gap."""

EXCHANGES = [
    ("Hi! How much does the Pro plan cost?",
     "Hello there! The Pro plan is $49/month, or $470/year with annual billing (two months free)."),
    ("Do you offer a discount for annual billing?",
     "Yes! Annual billing saves you about 17% compared with paying monthly."),
    ("Can I book a demo for my team next week?",
     "I'd be happy to set up a demo. Could you share your email and a time that suits you?"),
    ("Is there a free trial?", "We offer a 14-day free trial, no credit card required. 🚀"),
    ("How do I reset my password?",
     "You can reset it from the login page: click “Forgot password?” and follow the email."),
    ("My widget stopped loading on our website since this morning.",
     "I'm sorry to hear that. Could you tell me the URL of the page where the widget is missing?"),
    ("Can I talk to a human, please?",
     "Of course, I'm transferring you to a member of our team now."),
    ("What integrations do you support? Slack, HubSpot, Zapier?",
     "We integrate with Slack, HubSpot, Zapier, WordPress and Shopify, and there is a REST API."),
    ("Does it work with WordPress?",
     "Yes: install our WordPress plugin, paste your bot id, and the widget appears on every page."),
    ("How many messages are included per month?",
     "Pro includes 10,000 messages per month; extra messages are billed in packs of 1,000."),
    ("Quelle est la différence entre Starter et Pro ?",
     "Starter couvre un agent et 2 000 messages par mois ; Pro en couvre cinq et 10 000 messages."),
    ("¿Tienen soporte en español?", "¡Sí! Respondo en más de 50 idiomas, incluido el español."),
    ("Gibt es einen Rabatt für gemeinnützige Organisationen?",
     "Ja, gemeinnützige Organisationen erhalten 30 % Rabatt. Schreiben Sie uns an support@example.com."),
    ("料金プランについて教えてください。", "料金プランは Starter、Pro、Enterprise の3つです。"),
    ("Thanks! 🙏", "You're welcome! Is there anything else I can help with? 😊"),
    ("ok", "Great! Let me know if you have any other questions."),
    ("Can you send me the invoice for March?\nOur VAT number is EU123456789.",
     "Sure. Invoices are under Billing → Invoices; I've also asked our team to email it to you."),
    ("We're a team of 40 — what would that cost per seat?",
     "For 40 seats we'd suggest Enterprise; I can put you in touch with sales for a quote."),
    ("Is my data stored in the EU? 🇪🇺",
     "Yes, all data is stored in the EU (Frankfurt) and encrypted at rest."),
    ("How do I train the bot on our help center articles?",
     "Here are the steps:\n1. Open Settings → Data sources\n2. Add your help center URL\n3. Click “Retrain”"),
    ("The bot answered in English but our site is in Portuguese 🤔",
     "Olá! Posso responder em português: ative o idioma em Settings → Language. 🇧🇷"),
    ("Can I cancel anytime?",
     "You can cancel anytime from Billing; you keep access until the end of the period."),
    ("What's your uptime SLA?", "Our uptime SLA is 99.9% on Pro and 99.95% on Enterprise."),
    ("Demo please! Thursday 3pm CET works for me.",
     "I've noted Thursday at 15:00 CET. You'll receive a calendar invite shortly. 📅"),
    ("Do you have an API for exporting leads?",
     "Yes: POST /v1/get-conversation-ids/{bot_id} lists your leads, and /v1/get-chats/{bot_id} their chats."),
    ("hello??", "Hello there! How can I assist you today?"),
    ("I was charged twice this month.",
     "I'm sorry about the double charge. I've flagged it for our billing team; expect a refund within a week."),
    ("Can the bot hand over to our support team during office hours?",
     "Yes: turn on live handover in Settings → Agents and set your office hours."),
    ("Where do I find my API key?", "Your API key is under Settings → API. Keep it secret!"),
    ("👍", "Glad I could help! 👋"),
    ("", "Could you rephrase that? I want to be sure I understand."),
]  # fmt: skip
"""(visitor question, agent answer): an ai message answers the human message before it."""
_SYSTEM_TEXTS = (
    "Conversation transferred to a live agent.",
    "The visitor left the chat.",
    "Lead form submitted.",
    "",
)
CHAT_QUIRKS = Quirks(
    extras=(
        ("feedback", ("thumbs_up", "thumbs_down", None)),
        ("sources", ([], ["https://example.com/pricing"], ["https://example.com/docs/api"])),
        ("tokens", (12, 87, 403)),
        ("model", ("gpt-4o-mini", "gpt-4o")),
    ),
    extra_rate=60,
    window=4,
    odd=tuple(("message", {"data": {"type": "system", "content": t}, "type": "system"})
              for t in _SYSTEM_TEXTS),
    odd_rate=12,
)  # fmt: skip
"""Besides the timestamps: now and then an unknown field, rarely a message type (`system`) the
spec's example does not show. The `Chat` schema has no optional field to null."""


def _message_fragment(kind: str, text: str) -> str:
    """`"message":{...}` as orjson writes it, for one type and text."""
    return f'"message":{{"data":{{"type":"{kind}","content":{orjson.dumps(text).decode()}}},"type":"{kind}"}}'


_HUMAN = stretch([_message_fragment("human", question) for question, _ in EXCHANGES])
_AI = stretch([_message_fragment("ai", answer) for _, answer in EXCHANGES])
_TEXTS_BY_TYPE = {"human": [q for q, _ in EXCHANGES], "ai": [a for _, a in EXCHANGES]}


@dataclass(frozen=True)
class Conversations:
    """A store's conversations: a session's is a pure function of (seed, bot, session, its lead's
    created_at, the per-session range, quirks). Human and ai alternate, human first, each message
    1 s to 3 min after the one before (the first after the lead)."""

    seed: int = 0
    per_session: tuple[int, int] = DEFAULT_MESSAGES_PER_SESSION
    """Each session has between these many messages (inclusive), drawn per session."""
    quirks: bool = False

    def __post_init__(self) -> None:
        """The one check of the range, for the CLI, `MockConfig`, the fixtures and the demo."""
        low, high = self.per_session
        object.__setattr__(self, "per_session", (low, high))
        if not 0 <= low <= high <= MAX_MESSAGES_PER_SESSION:
            need = f"need 0 <= MIN <= MAX <= {MAX_MESSAGES_PER_SESSION}"
            raise ValueError(f"messages per session {low}-{high}: {need}")

    @property
    def span_ms(self) -> int:
        """Every generated message of a session lies within this long after its lead."""
        return self.per_session[1] * MAX_GAP_MS

    def count(self, bot_id: str, session_id: str) -> int:
        """How many messages a session starts with."""
        low, high = self.per_session
        raw = digest(self.seed, bot_id, f"chat-count:{session_id}", 4)
        return low + int.from_bytes(raw, "little") % (high - low + 1)

    def session_chunk(self, bot_id: str, session_id: str, lead_ms: int) -> bytes:
        """A session's generated messages as JSON text `{...},{...}` (empty when it has none)."""
        count = self.count(bot_id, session_id)
        if count == 0:
            return b""
        texts = self._render(bot_id, session_id, lead_ms, count)
        if not self.quirks:
            return ",".join(texts).encode()
        choices = digest(self.seed, bot_id, f"chat-quirks:{session_id}", count * QUIRK_CHOICE.size)
        return quirky_chunk(texts, choices, CHAT_QUIRKS)

    def session_messages(self, bot_id: str, session_id: str, lead_ms: int) -> list[dict[str, Any]]:
        """The same messages as dicts."""
        return parse_chunks([self.session_chunk(bot_id, session_id, lead_ms)])

    def _render(self, bot_id: str, session_id: str, lead_ms: int, count: int) -> list[str]:
        """The hot loop of a million-message body: table lookups and f-strings only."""
        raw = digest(self.seed, bot_id, f"chat:{session_id}", count * _MESSAGE.size)
        sid = orjson.dumps(session_id).decode()
        a4, a3, minutes, seconds, days = ALNUM4, ALNUM3, MINUTE_OF_DAY, MS_OF_MINUTE, day_prefix
        human, ai, max_gap = _HUMAN, _AI, MAX_GAP_MS - 1000
        out = []
        at = topic = lead_ms
        for j, (a, b, c, d, pick, gap) in enumerate(_MESSAGE.iter_unpack(raw)):
            if j & 1:
                fragment, at = ai[topic], at + 1000 + gap % _AI_GAP_MS
            else:
                topic = pick
                fragment, at = human[pick], at + 1000 + gap % max_gap
            day, rest = divmod(at, DAY_MS)
            minute, ms_of_minute = divmod(rest, 60_000)
            out.append(
                f'{{"id":"{a4[a]}{a4[b]}{a4[c]}{a3[d]}",{fragment},"session_id":{sid},'
                f'"created_at":"{days(day)}{minutes[minute]}{seconds[ms_of_minute]}+00:00"}}'
            )
        return out

    def appended(
        self, bot_id: str, session_id: str, number: int, at_ms: int, content: str | None, kind: str
    ) -> dict[str, Any]:
        """The `number`th message appended to a bot at runtime: a seeded id, and a seeded text of
        its type unless `content` is given."""
        size = _MESSAGE.size + QUIRK_CHOICE.size
        raw = digest(self.seed, bot_id, f"chat-append:{number}:{session_id}", size)
        a, b, c, d, pick, _ = _MESSAGE.unpack(raw[: _MESSAGE.size])
        if content is None:
            texts = _TEXTS_BY_TYPE.get(kind, _SYSTEM_TEXTS)
            content = texts[pick % len(texts)]
        item = {  # the spec's `Chat` example's shape and key order
            "id": f"{ALNUM4[a]}{ALNUM4[b]}{ALNUM4[c]}{ALNUM3[d]}",
            "message": {"data": {"type": kind, "content": content}, "type": kind},
            "session_id": session_id,
            "created_at": spec_timestamp(at_ms),
        }
        if self.quirks:
            quirk(item, QUIRK_CHOICE.unpack(raw[_MESSAGE.size :]), CHAT_QUIRKS)
        return item
