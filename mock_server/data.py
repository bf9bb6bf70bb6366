"""Seeded lead generation: a pure function of (seed, bot id, index range, quirks).

The randomness for lead `i` of a bot comes from SHAKE-256 over (seed, bot id, i // CHUNK_SIZE), so
the same inputs give byte-identical JSON on every run, machine and Python version, any index range
can be generated without generating what precedes it, and a body of a million leads is produced
chunk by chunk without ever being held in memory.

The fast path (`lead_chunks`) writes JSON text with f-strings from precomputed tables; everything
else (`leads_for_bot`, the store's materialized views) parses that text, so there is exactly one
definition of what a lead looks like.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson

from mock_server.seeded import (
    ALNUM3,
    ALNUM4,
    DAY_MS,
    DAY_PREFIX,
    MINUTE_OF_DAY,
    MS_OF_MINUTE,
    day_prefix,
    digest,
    locally_shuffled,
    quirk_timestamp,
    stretch,
)

CHUNK_SIZE = 1024
"""Leads per generated chunk: big enough to amortise per-chunk work, small enough to stream."""

_BASE_START_MS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
_BASE_SPAN_MS = 365 * DAY_MS
"""Base leads of a bot spread over one year, whatever their number."""
APPEND_GAP_MS = 90_000
"""Mean spacing of leads appended at runtime (they arrive after everything already stored)."""

# Random bytes per lead, unpacked in C by struct.iter_unpack: created_at jitter, session prefix
# (two parts), session lag, person, phone head, phone digits (two parts), has phone, for_agent.
_RECORD = struct.Struct("<IHHHHBHHBB")
# Quirk choices per lead, from their own bytes so quirks never change the underlying lead:
# fraction digits, offset, null-or-missing, extra field, order key, microseconds.
_QUIRK_RECORD = struct.Struct("<BBBBBH")

# (display name, ascii form for email addresses)
_FIRST_NAMES = [
    ("James", "james"), ("Mary", "mary"), ("Robert", "robert"), ("Patricia", "patricia"),
    ("John", "john"), ("Jennifer", "jennifer"), ("Michael", "michael"), ("Linda", "linda"),
    ("David", "david"), ("Elizabeth", "elizabeth"), ("William", "william"), ("Barbara", "barbara"),
    ("Richard", "richard"), ("Susan", "susan"), ("Joseph", "joseph"), ("Jessica", "jessica"),
    ("Thomas", "thomas"), ("Sarah", "sarah"), ("Daniel", "daniel"), ("Karen", "karen"),
    ("Matthew", "matthew"), ("Nancy", "nancy"), ("Anthony", "anthony"), ("Lisa", "lisa"),
    ("Mark", "mark"), ("Emily", "emily"), ("Steven", "steven"), ("Michelle", "michelle"),
    ("Andrew", "andrew"), ("Laura", "laura"), ("Kevin", "kevin"), ("Rebecca", "rebecca"),
    ("Brian", "brian"), ("Amanda", "amanda"), ("Olivia", "olivia"), ("Noah", "noah"),
    ("Emma", "emma"), ("Liam", "liam"), ("Sophia", "sophia"), ("Lucas", "lucas"),
    ("Mia", "mia"), ("Ethan", "ethan"), ("Chloé", "chloe"), ("Léa", "lea"),
    ("Hugo", "hugo"), ("Zoë", "zoe"), ("Jürgen", "juergen"), ("Lukas", "lukas"),
    ("Hannah", "hannah"), ("Felix", "felix"), ("Sofía", "sofia"), ("Mateo", "mateo"),
    ("Lucía", "lucia"), ("Martín", "martin"), ("Giulia", "giulia"), ("Lorenzo", "lorenzo"),
    ("Aarav", "aarav"), ("Priya", "priya"), ("Rohan", "rohan"), ("Ananya", "ananya"),
    ("Wei", "wei"), ("Mei", "mei"), ("Hiroshi", "hiroshi"), ("Yuki", "yuki"),
    ("Min-jun", "minjun"), ("Seo-yeon", "seoyeon"), ("Olumide", "olumide"), ("Amara", "amara"),
    ("Kwame", "kwame"), ("Fatima", "fatima"), ("Omar", "omar"), ("Layla", "layla"),
    ("Mehmet", "mehmet"), ("Elif", "elif"), ("Björn", "bjorn"), ("Astrid", "astrid"),
    ("Søren", "soren"), ("Ingrid", "ingrid"), ("Pierre", "pierre"), ("Camille", "camille"),
    ("João", "joao"), ("Ana", "ana"), ("Tomasz", "tomasz"), ("Zofia", "zofia"),
    ("Ivan", "ivan"), ("Olga", "olga"), ("Dmitri", "dmitri"), ("Nadia", "nadia"),
    ("Diego", "diego"), ("Valentina", "valentina"), ("Santiago", "santiago"), ("Isabella", "isabella"),
    ("Jack", "jack"), ("Grace", "grace"), ("Oliver", "oliver"), ("Charlotte", "charlotte"),
]  # fmt: skip
_LAST_NAMES = [
    ("Smith", "smith"), ("Johnson", "johnson"), ("Williams", "williams"), ("Brown", "brown"),
    ("Jones", "jones"), ("Garcia", "garcia"), ("Miller", "miller"), ("Davis", "davis"),
    ("Rodriguez", "rodriguez"), ("Martinez", "martinez"), ("Hernandez", "hernandez"),
    ("Lopez", "lopez"), ("Gonzalez", "gonzalez"), ("Wilson", "wilson"), ("Anderson", "anderson"),
    ("Thomas", "thomas"), ("Taylor", "taylor"), ("Moore", "moore"), ("Jackson", "jackson"),
    ("Martin", "martin"), ("Lee", "lee"), ("Perez", "perez"), ("Thompson", "thompson"),
    ("White", "white"), ("Harris", "harris"), ("Clark", "clark"), ("Lewis", "lewis"),
    ("Robinson", "robinson"), ("Walker", "walker"), ("Young", "young"), ("Allen", "allen"),
    ("King", "king"), ("Wright", "wright"), ("Scott", "scott"), ("Nguyen", "nguyen"),
    ("Hill", "hill"), ("Flores", "flores"), ("Green", "green"), ("Adams", "adams"),
    ("Müller", "mueller"), ("Schmidt", "schmidt"), ("Schneider", "schneider"),
    ("Fischer", "fischer"), ("Weber", "weber"), ("Dubois", "dubois"), ("Lefèvre", "lefevre"),
    ("Moreau", "moreau"), ("Rossi", "rossi"), ("Russo", "russo"), ("Ferrari", "ferrari"),
    ("Fernández", "fernandez"), ("García López", "garcialopez"), ("Silva", "silva"),
    ("Santos", "santos"), ("Oliveira", "oliveira"), ("Kowalski", "kowalski"),
    ("Nowak", "nowak"), ("Novák", "novak"), ("Ivanova", "ivanova"), ("Petrov", "petrov"),
    ("Andersson", "andersson"), ("Johansson", "johansson"), ("Nielsen", "nielsen"),
    ("Hansen", "hansen"), ("Virtanen", "virtanen"), ("Öztürk", "ozturk"), ("Kaya", "kaya"),
    ("Haddad", "haddad"), ("Khan", "khan"), ("Patel", "patel"), ("Sharma", "sharma"),
    ("Singh", "singh"), ("Kumar", "kumar"), ("Wang", "wang"), ("Li", "li"), ("Zhang", "zhang"),
    ("Chen", "chen"), ("Liu", "liu"), ("Tanaka", "tanaka"), ("Suzuki", "suzuki"),
    ("Sato", "sato"), ("Kim", "kim"), ("Park", "park"), ("Choi", "choi"),
    ("Okafor", "okafor"), ("Mensah", "mensah"), ("Adeyemi", "adeyemi"), ("Mwangi", "mwangi"),
    ("O'Brien", "obrien"), ("O'Connor", "oconnor"), ("MacDonald", "macdonald"),
    ("van der Berg", "vandenberg"), ("de Jong", "dejong"), ("Jansen", "jansen"),
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

_EXTRA_FIELDS = [
    ("visitor_country", ["US", "DE", "FR", "IN", "BR", "JP"]),
    ("utm_source", ["google", "newsletter", "linkedin", "direct"]),
    ("page_url", ["https://example.com/pricing", "https://example.com/", "https://example.com/demo"]),
    ("rating", [1, 2, 3, 4, 5]),
]  # fmt: skip

_FIRST = stretch(_FIRST_NAMES)
_LAST = stretch(_LAST_NAMES)
_DOMAIN = stretch(_DOMAINS)
_PHONE_HEAD = stretch(_PHONE_HEADS)
_DIGITS4 = [f"{i % 10_000:04d}" for i in range(65536)]
_DIGITS3 = [f"{i % 1_000:03d}" for i in range(65536)]


def _check_tables_need_no_escaping() -> None:
    """The fast path splices table strings into JSON unescaped; fail at import if one needs it."""
    for text in [s for pair in _FIRST_NAMES + _LAST_NAMES for s in pair] + _DOMAINS:
        if orjson.dumps(text) != b'"' + text.encode() + b'"':
            raise ValueError(f"table entry {text!r} needs JSON escaping")


_check_tables_need_no_escaping()


@dataclass(frozen=True)
class Timeline:
    """When generated leads happened: lead k (k = 0, 1, ...) at start + k * gap + (jitter < gap).

    Strictly ascending by construction, and computable for any k without the leads before it.
    """

    start_ms: int
    gap_ms: int

    def end_ms(self, count: int) -> int:
        """An instant after every one of `count` leads on this timeline."""
        return self.start_ms + max(count, 0) * self.gap_ms + 1000


def base_timeline(seed: int, bot_id: str, count: int) -> Timeline:
    """The timeline of a bot's initial leads: one year from 2024 plus a per-bot offset of days."""
    offset = int.from_bytes(digest(seed, bot_id, "start", 4), "little") % (30 * DAY_MS)
    return Timeline(_BASE_START_MS + offset, max(1, _BASE_SPAN_MS // max(count, 1)))


def _render_chunk(records: Iterator[tuple[int, ...]], start_ms: int, gap_ms: int) -> list[str]:
    """Conforming leads as JSON text, key order and spacing exactly as orjson writes them.

    The hot loop of a million-lead body: table lookups and f-strings only, locals bound once.
    """
    persons, agents, heads, d4, d3 = _person_fragments(), _AGENT, _PHONE_HEAD, _DIGITS4, _DIGITS3
    p4, p3, minutes, seconds, days = ALNUM4, ALNUM3, MINUTE_OF_DAY, MS_OF_MINUTE, DAY_PREFIX
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
            f'{days.get(day) or day_prefix(day)}{minutes[minute]}{seconds[ms_of_minute]}+00:00"'
            f"{persons[person]}{phone}{agents[agent]}}}"
        )
    return out


_AGENT = [',"for_agent":true'] * 45 + [',"for_agent":false'] * 190 + [""] * 21
"""for_agent by random byte: mostly false, sometimes true, sometimes absent."""


@cache
def _person_fragments() -> list[str]:
    """65,536 ready-made `,"enduser_name":...,"enduser_email":...` fragments, some without name
    or email; built once (about 0.1 s) so the hot loop does one lookup per person."""
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
    f, la, domain = _FIRST[first][1], _LAST[last][1], _DOMAIN[style >> 4]
    kind = style & 7
    if kind < 3:
        return f"{f}.{la}@{domain}"
    if kind == 3:
        return f"{f[0]}{la}@{domain}"
    if kind == 4:
        return f"{f}{la}{number}@{domain}"
    if kind == 5:
        return f"{f}_{la}@{domain}"
    if kind == 6:
        return f"{la}.{f}@{domain}"
    return f"{f}{number % 100:02d}@{domain}"


def _apply_quirks(lead: dict[str, Any], created_ms: int, quirk: tuple[int, ...]) -> None:
    """Turn a conforming lead into what a real API might send: loose timestamps, nulls for
    absent fields, an unknown field. The instant stays the same (up to the precision shown)."""
    digits, offset_pick, nulls, extra, _, micro = quirk
    lead["created_at"] = quirk_timestamp(created_ms, micro % 1000, digits % 7, offset_pick)
    for bit, key in enumerate(("enduser_name", "enduser_email", "enduser_phone", "for_agent")):
        if key not in lead and nulls >> bit & 1:
            lead[key] = None
    if extra < 90:
        name, values = _EXTRA_FIELDS[extra % len(_EXTRA_FIELDS)]
        lead[name] = values[extra // len(_EXTRA_FIELDS) % len(values)]


def lead_chunks(
    seed: int,
    bot_id: str,
    count: int,
    *,
    quirks: bool = False,
    start_index: int = 0,
    timeline: Timeline | None = None,
) -> Iterator[bytes]:
    """Leads `start_index .. start_index + count` of a bot as JSON text chunks.

    Each chunk is `{...},{...}` (objects joined by commas, no brackets), so a body is `[` + the
    chunks joined by `,` + `]`. The timeline defaults to `base_timeline(seed, bot_id, count)`.
    With quirks the same leads come in the loose forms a real API may send, locally shuffled.
    """
    if count <= 0:
        return
    timeline = timeline or base_timeline(seed, bot_id, count)
    size = _RECORD.size
    stop = start_index + count
    index = start_index
    while index < stop:
        chunk_number, offset = divmod(index, CHUNK_SIZE)
        take = min(CHUNK_SIZE - offset, stop - index)
        # SHAKE output is a prefix-stable stream: asking for fewer bytes gives the same first ones.
        raw = digest(seed, bot_id, f"leads:{chunk_number}", (offset + take) * size)
        records = _RECORD.iter_unpack(raw[offset * size :])
        chunk_start_ms = timeline.start_ms + (index - start_index) * timeline.gap_ms
        texts = _render_chunk(records, chunk_start_ms, timeline.gap_ms)
        if quirks:
            yield orjson.dumps(
                _quirky(seed, bot_id, texts, chunk_number, offset, chunk_start_ms, timeline.gap_ms)
            )[1:-1]
        else:
            yield ",".join(texts).encode()
        index += take


def _quirky(
    seed: int,
    bot_id: str,
    texts: list[str],
    chunk_number: int,
    offset: int,
    start_ms: int,
    gap_ms: int,
) -> list[dict[str, Any]]:
    """The quirk forms of one chunk's leads, shuffled within small windows."""
    size = _QUIRK_RECORD.size
    raw = digest(seed, bot_id, f"quirks:{chunk_number}", (offset + len(texts)) * size)
    quirks = _QUIRK_RECORD.iter_unpack(raw[offset * size :])
    leads = orjson.loads("[" + ",".join(texts) + "]")
    keyed = []
    for k, (lead, quirk) in enumerate(zip(leads, quirks, strict=True)):
        # Recover the exact instant from the conforming text, which has millisecond precision.
        created_ms = _parse_conforming_ms(lead["created_at"])
        _apply_quirks(lead, created_ms, quirk)
        keyed.append((quirk[4], k, lead))
    return locally_shuffled(keyed)


def _parse_conforming_ms(text: str) -> int:
    """Epoch milliseconds of a timestamp in the spec's example form (as `_render_chunk` writes)."""
    return int(datetime.fromisoformat(text).timestamp() * 1000 + 0.5)


def json_array(elements: Iterable[bytes]) -> Iterator[bytes]:
    """A JSON array streamed from element chunks (each `{...},{...}`, empty ones skipped): the one
    writer of every lead body, generated, stored or faulted."""
    yield b"["
    separator = b""
    for chunk in elements:
        if chunk:
            yield separator + chunk
            separator = b","
    yield b"]"


def lead_body_chunks(
    seed: int,
    bot_id: str,
    count: int,
    *,
    quirks: bool = False,
    start_index: int = 0,
    timeline: Timeline | None = None,
) -> Iterator[bytes]:
    """The complete JSON array body for these leads, as chunks to stream."""
    chunks = lead_chunks(
        seed, bot_id, count, quirks=quirks, start_index=start_index, timeline=timeline
    )
    return json_array(chunks)


def leads_for_bot(
    seed: int,
    bot_id: str,
    count: int,
    *,
    quirks: bool = False,
    start_index: int = 0,
    timeline: Timeline | None = None,
) -> Iterator[dict[str, Any]]:
    """The same leads as dicts (parsed from the fast path, so both can never disagree)."""
    for chunk in lead_chunks(
        seed, bot_id, count, quirks=quirks, start_index=start_index, timeline=timeline
    ):
        yield from orjson.loads(b"[" + chunk + b"]")
