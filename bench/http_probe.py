"""Plain `http.client` requests for the server suite: one big body read to the end, and small
requests timed one by one. The standard library client adds almost nothing per byte or per
request, so what is measured is the server."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

READ_BYTES = 1 << 20
LEAD_MARKER = b'"session_id":'
"""One per lead in compact JSON (both servers write no spaces); it cannot overlap itself."""
TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Fetched:
    status: int
    seconds: float
    """From sending the request to the body's last byte."""
    body_bytes: int
    leads: int
    """`"session_id":` keys seen: the leads in the body, without parsing it."""


class MarkerCounter:
    """Counts a marker across chunk boundaries, so a split `"session_id":` still counts once.

    Exact only for a marker that cannot overlap itself (no prefix equal to a suffix): then the
    carried tail can never re-count part of a match already counted.
    """

    def __init__(self, marker: bytes) -> None:
        if any(marker[:k] == marker[-k:] for k in range(1, len(marker))):
            raise ValueError(f"marker {marker!r} can overlap itself; counting it would be wrong")
        self.marker = marker
        self.count = 0
        self._carry = b""

    def feed(self, chunk: bytes) -> None:
        data = self._carry + chunk
        self.count += data.count(self.marker)
        # Keep a tail too short to hold a whole marker: it cannot be counted twice.
        self._carry = data[-(len(self.marker) - 1) :] if len(self.marker) > 1 else b""


def _connection(url: str) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname or "127.0.0.1"
    return http.client.HTTPConnection(host, parts.port, timeout=TIMEOUT_SECONDS), path


def fetch(
    url: str,
    method: str,
    headers: Mapping[str, str],
    *,
    sink: Path | None = None,
    started: threading.Event | None = None,
) -> Fetched:
    """One request, body read to the end and byte-counted; `started` is set once the status
    line has arrived (the body is then streaming)."""
    connection, path = _connection(url)
    counter = MarkerCounter(LEAD_MARKER)
    size = 0
    out = sink.open("wb") if sink else None
    try:
        begin = time.perf_counter()
        connection.request(method, path, headers=dict(headers))
        response = connection.getresponse()
        if started is not None:
            started.set()
        while chunk := response.read(READ_BYTES):
            size += len(chunk)
            counter.feed(chunk)
            if out:
                out.write(chunk)
        seconds = time.perf_counter() - begin
        return Fetched(response.status, seconds, size, counter.count)
    finally:
        if out:
            out.close()
        connection.close()


class SmallRequests:
    """Sequential small requests on one kept-alive connection, each one timed."""

    def __init__(self, url: str, method: str, headers: Mapping[str, str]) -> None:
        self._connection, self._path = _connection(url)
        self._method = method
        self._headers = dict(headers)
        self.failures = 0

    def __enter__(self) -> SmallRequests:
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.close()

    def timed(self) -> float:
        """Seconds for one request, body included; a non-2xx answer counts as a failure."""
        begin = time.perf_counter()
        self._connection.request(self._method, self._path, headers=self._headers)
        response = self._connection.getresponse()
        response.read()
        if not 200 <= response.status < 300:
            self.failures += 1
        return time.perf_counter() - begin
