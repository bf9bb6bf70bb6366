"""The one home of the bench's settings: the CLI or a test builds it, the suites read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.rows import SUITES, Mode, Name, Stream, Suite

BENCH_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Case:
    """One connector measurement at each size: a reader, its sync mode and the stream it reads."""

    name: Name
    mode: Mode
    stream: Stream = "leads"


CASES = (
    Case(Name.OURS, "incremental"),
    Case(Name.OURS, "full_refresh"),
    Case(Name.GLOBAL_CURSOR, "incremental"),
    Case(Name.MINIMAL, "full_refresh"),
    Case(Name.MINIMAL, "incremental"),
    Case(Name.CLOUD, "incremental"),
    Case(Name.RAW, "full_refresh"),
    Case(Name.DLT, "full_refresh"),
    Case(Name.DLT_SOURCE, "incremental"),
    Case(Name.OURS, "incremental", "chats"),
    Case(Name.OURS, "full_refresh", "chats"),
    Case(Name.MINIMAL, "full_refresh", "chats"),
    Case(Name.MINIMAL_GROUPED, "full_refresh", "chats"),
)
"""raw and dlt's rest_api have no incremental mode: they read everything, which is what a first
sync does; dlt through our source reads incrementally, from no state (a first sync).
For `chats`, the minimal manifest is `minimal_chats_manifest.yaml` (one request per session),
full refresh only: its stock incremental (client-side global cursor) took 99 s at 100k messages
and over 6 minutes at 1M, and the target compares against its full refresh."""


@dataclass(frozen=True)
class Shape:
    """The data the latency suite serves: `bots` bots of `leads` leads, `messages` per session."""

    bots: int
    leads: int
    messages: int

    @property
    def label(self) -> str:
        return f"{self.bots} x {self.leads:,} leads x {self.messages} messages"


@dataclass(frozen=True)
class LatencyConfig:
    """The latency suite (`bench/latency.py`): every reader at each shape, with no latency (S)
    and with each of `latencies` seconds added to every request."""

    shapes: tuple[Shape, ...] = (Shape(20, 500, 4), Shape(1, 5_000, 4))
    latencies: tuple[float, ...] = (0.1, 0.5)
    per_session_latencies: tuple[float, ...] = (0.1,)
    """The latencies the one-request-per-session chats readers (the Cloud edition, the minimal
    chats manifest) are measured at: at 0.5 s one shape costs them 10 to 40 minutes."""
    per_session_max_sessions: int = 5_000
    """...and only on shapes of at most this many sessions (the mock's journal, which counts the
    requests, keeps the newest 10,000)."""
    streams: tuple[Stream, ...] = ("leads", "chats")
    readers: tuple[str, ...] = ()
    """Only these readers (`source-chatnode W=10`, as the suite names them); empty: all."""


@dataclass(frozen=True)
class BenchConfig:
    """Everything that decides what the bench runs and where it writes."""

    output_dir: Path = BENCH_DIR
    suites: tuple[Suite, ...] = SUITES
    sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    """Leads served to the `leads` cases, one bot."""
    chat_sizes: tuple[int, ...] = (100_000, 1_000_000)
    """Chat messages served to the `chats` cases, one bot of `chat_sessions` sessions (leads),
    each with the same number of messages."""
    chat_sessions: int = 10_000
    cases: tuple[Case, ...] = CASES
    runs: int = 2
    """Runs per connector measurement: the fastest gives the time, the highest peak the memory."""
    observe_leads: int = 200_000
    """Leads the cursor suite's cursors observe: the cost per lead does not grow with them."""
    big_leads: int = 1_000_000
    """Leads in the server suite's big response, which also streams during the latency probe."""
    small_leads: int = 16
    concurrency: int = 16
    load_seconds: float = 10.0
    warmup_seconds: float = 2.0
    """Unmeasured load before the measured load."""
    skip_prism: bool = False
    install: bool = True
    """May the bench install Prism into bench/.tools with npm when it is missing."""
    seed: int = 7
    api_key: str = "bench-secret-key"
    bot_id: str = "bench-bot"
    latency: LatencyConfig = field(default_factory=LatencyConfig)

    def __post_init__(self) -> None:
        if (
            self.runs < 1
            or min(self.sizes, default=0) < 1
            or min(self.big_leads, self.observe_leads) < 1
        ):
            raise ValueError("--runs and every lead count must be positive")
        if any(n < 1 or n % self.chat_sessions for n in self.chat_sizes):
            raise ValueError(f"every chat size must be a multiple of {self.chat_sessions} sessions")

    def servings(self) -> list[tuple[Stream, int]]:
        """Each stream read and the sizes it is read at: one mock server each."""
        sizes = {"leads": self.sizes, "chats": self.chat_sizes}
        streams = dict.fromkeys(case.stream for case in self.cases)
        return [(stream, n) for stream in streams for n in sizes[stream]]

    def mock_data(self, stream: Stream, served: int) -> tuple[int, int | None]:
        """Leads, and messages per session, a mock server serves for `served` records."""
        if stream == "chats":
            return self.chat_sessions, served // self.chat_sessions
        return served, None  # the mock's default conversations: a leads read never asks for them

    @property
    def work_dir(self) -> Path:
        """Scratch files (configs, catalogs, logs, failed runs' output), beside the results."""
        return self.output_dir / ".work"


def quick_config(**overrides: Any) -> BenchConfig:
    """Small sizes, one run, a short load test; never over the committed results."""
    quick = dict(sizes=(2_000, 10_000), chat_sizes=(1_000,), chat_sessions=200, runs=1)
    quick |= dict(big_leads=100_000, observe_leads=20_000, load_seconds=2.0)
    quick |= dict(warmup_seconds=0.5, output_dir=BENCH_DIR / ".work" / "quick")
    quick |= dict(
        latency=LatencyConfig(shapes=(Shape(4, 50, 2), Shape(1, 200, 2)), latencies=(0.1,))
    )
    return BenchConfig(**(quick | overrides))
