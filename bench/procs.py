"""Starting, measuring and always stopping the processes the bench runs.

Each child gets its own session (process group), so a stop reaches what it spawned too (Prism's
node workers, dlt's normalizers), and the bench's own Ctrl-C never lands in a child half-way.
Peak RSS is polled over the whole process tree, as a container's memory limit would see it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

try:
    import psutil
except ImportError:  # `make test` runs without the bench group: fall back to /proc
    psutil = None  # type: ignore[assignment]

RSS_POLL_SECONDS = 0.05
STOP_GRACE_SECONDS = 5.0
_MB = 1024 * 1024


class ProcessGroup:
    """Every process the bench starts, so all of them stop however the bench ends."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def start(
        self,
        argv: Sequence[str],
        *,
        stdout: IO[Any] | int | None = subprocess.DEVNULL,
        stderr: IO[Any] | int | None = subprocess.DEVNULL,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self._running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM the child's whole group, then SIGKILL what is left after `grace` seconds."""
        _signal_group(process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
        # The leader may be gone while a grandchild lingers in its group: kill the group anyway.
        _signal_group(process, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
        if process in self._running:
            self._running.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self._running)):
            self.stop(process)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # The group id is the child's pid (start_new_session); it exists while any member lives.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


@contextlib.contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, so `with` blocks stop the children."""

    def raise_interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, raise_interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def tree_rss_bytes(pid: int) -> int | None:
    """Resident memory of a process and all its descendants, or None once it is gone."""
    if psutil is not None:
        try:
            root = psutil.Process(pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        total = 0
        for process in tree:
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total
    return _proc_tree_rss(pid)


def _proc_tree_rss(pid: int) -> int | None:
    """The same sum from /proc, for an environment without psutil (Linux only)."""
    pending, total, seen = [pid], 0, False
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
        seen = True
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total if seen else None


class PeakRss:
    """Polls a process tree's RSS on a thread and keeps the highest value seen."""

    def __init__(self, pid: int, interval: float = RSS_POLL_SECONDS) -> None:
        self._pid = pid
        self._interval = interval
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name=f"rss-{pid}", daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while True:
            rss = tree_rss_bytes(self._pid)
            if rss is not None:
                self._peak = max(self._peak, rss)
            if self._stop.wait(self._interval):
                return

    def sample_now(self) -> None:
        """One more reading, e.g. right before the process is told to stop."""
        rss = tree_rss_bytes(self._pid)
        if rss is not None:
            self._peak = max(self._peak, rss)

    @property
    def peak_mb(self) -> float | None:
        return self._peak / _MB if self._peak else None


@dataclass(frozen=True)
class Measured:
    """How one process run went: wall time from start to exit, and its tree's peak RSS."""

    seconds: float
    peak_rss_mb: float | None
    returncode: int | None
    timed_out: bool


def run_measured(
    group: ProcessGroup,
    argv: Sequence[str],
    *,
    stdout_path: Path,
    stderr_path: Path,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Measured:
    """Run to completion (or `timeout`), stdout to a file so reading it costs the run nothing."""
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        started = time.perf_counter()
        process = group.start(argv, stdout=out, stderr=err, env=env, cwd=cwd)
        timed_out = False
        with PeakRss(process.pid) as rss:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            seconds = time.perf_counter() - started
        group.stop(process)
    return Measured(seconds, rss.peak_mb, None if timed_out else process.returncode, timed_out)


def tail(path: Path, limit: int = 800) -> str:
    """The end of a log file, on one line, for an error note."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())[-limit:]
