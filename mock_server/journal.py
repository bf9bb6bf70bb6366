"""The request journal: what a test can assert its client did (retries, bots read, faults met).

Each API request's method, path, bot, status, fault, auth outcome (`missing`, `unknown`,
`forbidden`, `ok`, `not_checked`, `n/a`: never the key) and `Prefer: code=` status; there is no
field a header value could land in, so it never holds a credential.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any


class Journal:
    """The newest API requests, bounded; thread-safe. Calling it gives its entries, so
    `server.journal()` reads as what it is."""

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)

    def record(
        self, method: str, path: str, bot: str | None, status: int, fault: str | None,
        auth: str, prefer: int | None = None,
    ) -> None:  # fmt: skip
        timestamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        entry = {"timestamp": timestamp, "method": method, "path": path, "bot": bot,
                 "status": status, "fault": fault, "auth": auth, "prefer": prefer}  # fmt: skip
        with self._lock:
            self._entries.append(entry)

    def __call__(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
