"""A text progress bar on stderr: a full bench takes a quarter of an hour, so show where it is.

On a terminal one line is redrawn twice a second (steps done, elapsed time, the current step and
how long it has run); in a log (CI, a pipe) each step is one line, so nothing is lost to `\\r`.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO

BAR_WIDTH = 24
REDRAW_SECONDS = 0.5


def render_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """`[#########...............]` for `done` of `total`."""
    filled = round(width * done / total) if total else width
    filled = max(0, min(width, filled))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def format_duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


class Progress:
    """Counts finished steps out of a known total and draws them."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty()
        self._label = ""
        self._started = time.monotonic()
        self._step_started = self._started
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Progress:
        if self._live:
            self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._draw()
            self._stream.write("\n")
            self._stream.flush()

    @contextlib.contextmanager
    def step(self, label: str) -> Iterator[None]:
        """One unit of work: shown while it runs, counted when it ends (even by an error)."""
        with self._lock:
            self._label = label
            self._step_started = time.monotonic()
        if not self._live:
            self._print(f"{self._prefix()} {label} ...")
        try:
            yield
        finally:
            with self._lock:
                self.done += 1
            if self._live:
                self._draw()

    def log(self, message: str) -> None:
        """A line that stays (a result, a warning) above the redrawn bar."""
        with self._lock:
            if self._live:
                self._stream.write("\r\033[K")
            self._print(message)

    def _prefix(self) -> str:
        return f"{render_bar(self.done, self.total)} {self.done}/{self.total}"

    def _print(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(REDRAW_SECONDS):
            self._draw()

    def _draw(self) -> None:
        with self._lock:
            now = time.monotonic()
            line = (
                f"{self._prefix()} {format_duration(now - self._started)} | {self._label} "
                f"({format_duration(now - self._step_started)})"
            )
            self._stream.write("\r\033[K" + line[:200])
            self._stream.flush()
