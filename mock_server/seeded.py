"""What the lead and chat generators share: platform-stable randomness and the text forms of ids
and timestamps, conforming (the spec's example form) or quirky (what a loose API may send).

Everything here is a pure function or a table built once at import, so generated data depends on
nothing but its inputs.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

T = TypeVar("T")

DAY_MS = 86_400_000
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


def digest(seed: int, bot_id: str, label: str, size: int) -> bytes:
    """Stable random bytes for (seed, bot, label); SHAKE-256 is the same on every platform, and
    its output is prefix-stable: asking for fewer bytes gives the same first ones."""
    return hashlib.shake_256(f"{seed}\x1f{bot_id}\x1f{label}".encode()).digest(size)


def alnum_table(width: int, multiplier: int) -> list[str]:
    """65,536 lowercase alphanumeric strings of `width`, so a random 16-bit number picks one;
    with a multiplier coprime with 36**width they are distinct, or (width 3, 46,656 strings)
    cover every string evenly."""
    space = len(ALNUM) ** width
    table = []
    for i in range(65536):
        n, chars = (i * multiplier) % space, []
        for _ in range(width):
            n, digit = divmod(n, len(ALNUM))
            chars.append(ALNUM[digit])
        table.append("".join(chars))
    return table


ALNUM4 = alnum_table(4, 25_717)
ALNUM3 = alnum_table(3, 7_919)


def stretch(table: list[T], size: int = 256) -> list[T]:
    """Repeat a table to `size` entries so a random byte indexes it without a modulo."""
    return [table[i % len(table)] for i in range(size)]


def uuid_text(raw: bytes) -> str:
    """A version-4 UUID in its usual text form from 16 random bytes (the form of the ids in
    Send Message's example, `d0135d64-2f4b-4a79-9b29-af76e4ea93a7`)."""
    h = raw[:16].hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[raw[8] & 3]}{h[17:20]}-{h[20:32]}"


# --- Timestamps in the spec's example form: `2024-06-30T17:32:53.518+00:00` -----------------

MINUTE_OF_DAY = [f"{m // 60:02d}:{m % 60:02d}:" for m in range(1440)]
MS_OF_MINUTE = [f"{ms // 1000:02d}.{ms % 1000:03d}" for ms in range(60_000)]
DAY_PREFIX: dict[int, str] = {}
"""`YYYY-MM-DDT` by day number since the epoch, filled by `day_prefix`; hot loops read it
directly and call `day_prefix` on a miss."""


def day_prefix(day: int) -> str:
    """`YYYY-MM-DDT` for a day number since the epoch, cached (a million records span a year)."""
    prefix = DAY_PREFIX.get(day)
    if prefix is None:
        prefix = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%dT")
        DAY_PREFIX[day] = prefix
    return prefix


def spec_timestamp(ms: int) -> str:
    """Epoch milliseconds in the spec's example form, as the generators' fast paths write it."""
    day, rest = divmod(ms, DAY_MS)
    minute, ms_of_minute = divmod(rest, 60_000)
    return f"{DAY_PREFIX.get(day) or day_prefix(day)}{MINUTE_OF_DAY[minute]}{MS_OF_MINUTE[ms_of_minute]}+00:00"


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_ms(text: str) -> int:
    """Epoch milliseconds (floored, in exact integer arithmetic) of an ISO 8601 timestamp with an
    offset or `Z`; ValueError when it is not one."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no offset")
    return (moment - EPOCH) // timedelta(milliseconds=1)


# --- Quirks: the same instants and records, as a loose API may send them --------------------

QUIRK_OFFSETS_MIN = [0, 0, 120, -300, 330, 60, -420, 540]
"""UTC offsets (minutes) a quirky API may render timestamps in; 0 appears as `Z` or `+00:00`."""


def quirk_timestamp(created_ms: int, micro: int, digits: int, offset_pick: int) -> str:
    """`created_ms` (+ `micro` µs when more than 3 digits show) with 0-6 fraction digits and a
    `Z`, `+00:00` or non-UTC offset; the wall clock shifts with the offset so the instant holds."""
    offset_min = QUIRK_OFFSETS_MIN[offset_pick & 7]
    total_us = created_ms * 1000 + (micro if digits > 3 else 0) + offset_min * 60_000_000
    seconds, us = divmod(total_us, 1_000_000)
    wall = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{us:06d}"[: digits + 1] if digits else ""
    if offset_min == 0:
        suffix = "Z" if offset_pick & 8 else "+00:00"
    else:
        sign = "+" if offset_min > 0 else "-"
        suffix = f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"
    return f"{wall}{fraction}{suffix}"


def locally_shuffled(keyed: list[tuple[int, int, Any]], window: int = 8) -> list[Any]:
    """Reorder records within windows of `window` by their (random key, position): out of order,
    only a bit."""
    out: list[Any] = []
    for lo in range(0, len(keyed), window):
        out.extend(record for _, _, record in sorted(keyed[lo : lo + window], key=lambda e: e[:2]))
    return out
