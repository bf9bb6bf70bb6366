"""Starting, measuring and always stopping the processes the bench runs. Each child leads its own
process group, so a stop reaches what it spawned too (Prism's node workers, dlt's normalizers)
and the bench's Ctrl-C never lands in a child half-way; peak RSS is that of the whole process
tree, as a container's memory limit sees it."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL, Popen, TimeoutExpired

import psutil

Process = Popen[bytes]


class ProcessGroup(list[Process]):
    """Every process the bench starts, so all of them stop however the bench ends."""

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        for process in reversed(list(self)):
            self.stop(process)

    def start(self, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Process:
        """`argv` with its stdout to `log` and its stderr beside it (`.err`)."""
        with log.open("wb") as out, log.with_suffix(".err").open("wb") as err:
            process = Popen(argv, stdin=DEVNULL, stdout=out, stderr=err, env=env, process_group=0)
        self.append(process)
        return process

    def stop(self, process: Process, grace: float = 5.0) -> None:
        """SIGTERM the child's whole group, then SIGKILL what is left after `grace` seconds."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            # The group id is the child's pid; a grandchild may outlive the leader in it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
            with contextlib.suppress(TimeoutExpired):
                process.wait(timeout=grace)
        if process in self:
            self.remove(process)


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (0 once it is gone)."""
    total = 0
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
    return total / 2**20


class PeakRss(threading.Thread):
    """Polls a process tree's RSS until the `with` block ends; keeps the highest value seen."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_mb = pid, interval, tree_rss_mb(pid)
        self.done = threading.Event()

    def __enter__(self) -> PeakRss:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.join()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.pid))


@dataclass(frozen=True)
class Measured:
    """One process run: wall time from start to exit, and its tree's peak RSS."""

    seconds: float
    peak_rss_mb: float
    returncode: int | None
    """None when it timed out."""
    last_output_at: float = 0.0
    """The clock time (`time.time()`, to set beside the mock's journal) of its last write to
    stdout, the file's mtime, or of its exit if it wrote none: a read's end without the
    interpreter's teardown, whose tenths of a second vary from run to run."""


def run_measured(
    group: ProcessGroup, argv: Sequence[str], log: Path, timeout: float, env: dict[str, str]
) -> Measured:
    """Run `argv` to its end, or stop it after `timeout` seconds."""
    started = time.perf_counter()
    process = group.start(argv, log, env)
    with PeakRss(process.pid) as rss:
        with contextlib.suppress(TimeoutExpired):
            process.wait(timeout=timeout)
        seconds, ended_at = time.perf_counter() - started, time.time()
    returncode = process.returncode
    group.stop(process)
    last_output_at = log.stat().st_mtime if log.exists() else ended_at
    return Measured(seconds, rss.peak_mb, returncode, last_output_at)


def tail(path: Path, limit: int = 600) -> str:
    """The end of a log file, on one line, for an error message."""
    with contextlib.suppress(OSError), path.open("rb") as log:
        log.seek(max(0, path.stat().st_size - limit))
        lines = log.read().decode(errors="replace").splitlines()
        return " | ".join(line.strip() for line in lines if line.strip())
    return ""
