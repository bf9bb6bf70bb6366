"""The request journal: what a test can assert its client did (retries, bots read, faults met).

It records the method, path, bot, status, fault and auth outcome of each API request, and never
a credential: there is no field a header value could land in.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class JournalEntry:
    timestamp: str
    method: str
    path: str
    bot: str | None
    status: int
    fault: str | None
    auth: str
    """`missing`, `unknown`, `forbidden` or `ok`: an outcome, never the key."""
    prefer: int | None = None
    """The status a `Prefer: code=NNN` header asked for, when one did."""


class Journal:
    """The newest API requests, bounded; thread-safe."""

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self._entries: deque[JournalEntry] = deque(maxlen=limit)

    def record(
        self,
        method: str,
        path: str,
        bot: str | None,
        status: int,
        fault: str | None,
        auth: str,
        prefer: int | None = None,
    ) -> None:
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        entry = JournalEntry(now, method, path, bot, status, fault, auth, prefer)
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(e) for e in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
