"""The one home of the bench's settings: the CLI builds a `BenchConfig`, the suites only read it."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from bench.results import SUITES

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "bench"
QUICK_OUTPUT_DIR = BENCH_DIR / ".work" / "quick"

FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000, 10_000)
FULL_SERVER_SIZES = (100_000, 1_000_000)
QUICK_SERVER_SIZES = (100_000,)


@dataclass(frozen=True)
class BenchConfig:
    """Everything that decides what the bench runs and where it writes."""

    output_dir: Path
    sizes: tuple[int, ...] = FULL_SIZES
    """Leads served to the connector suite, one bot."""
    runs: int = 2
    """Runs per connector measurement; the best one is reported."""
    suites: tuple[str, ...] = SUITES
    skip_prism: bool = False
    install_tools: bool = True
    """May the bench install wrk (apt-get) and Prism (npm) when they are missing."""
    quick: bool = False
    load_seconds: float = 10.0
    """Duration of each load test, after `warmup_seconds` of unmeasured load."""
    warmup_seconds: float = 2.0
    server_sizes: tuple[int, ...] = FULL_SERVER_SIZES
    """Leads in the one-request big responses of the server suite; the largest also carries
    the small-request latency probe."""
    small_leads: int = 16
    """Leads in the response the load tests request."""
    concurrencies: tuple[int, ...] = (1, 16)
    seed: int = 7
    api_key: str = "bench-secret-key"
    bot_id: str = "bench-bot"
    small_bot_id: str = "bench-small-bot"
    bin_dir: Path = Path(sys.executable).parent
    """The virtualenv's scripts: the bench runs the console scripts directly, never through
    `uv run`, so no launcher's startup or memory is counted."""

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise ValueError(f"--runs must be at least 1, got {self.runs}")
        if not self.sizes or min(self.sizes) < 1:
            raise ValueError(f"--sizes must be positive lead counts, got {list(self.sizes)}")
        unknown = set(self.suites) - set(SUITES)
        if unknown or not self.suites:
            raise ValueError(f"--only takes one of {', '.join(SUITES)}, got {sorted(unknown)}")

    @property
    def work_dir(self) -> Path:
        """Scratch space for configs, catalogs, logs and failed runs' outputs; beside the
        results, so two runs with different output folders never share it (bench/.work/ for
        the default full run, gitignored)."""
        return self.output_dir / ".work"

    def executable(self, name: str) -> Path:
        return self.bin_dir / name

    @property
    def python(self) -> Path:
        return Path(sys.executable)

    def read_timeout(self, leads: int) -> float:
        """Seconds one connector run may take before it is an error row: generous, because a
        hung run must end the row, not the bench (dlt reads 1M leads in about 100 s)."""
        return 120.0 + leads / 1_000


def quick_config(output_dir: Path | None = None, **overrides: object) -> BenchConfig:
    """Small sizes, one run, short load tests: checks the harness end to end in under 2 min."""
    settings: dict[str, object] = {
        "sizes": QUICK_SIZES,
        "runs": 1,
        "quick": True,
        "load_seconds": 2.0,
        "warmup_seconds": 0.5,
        "server_sizes": QUICK_SERVER_SIZES,
    }
    settings.update(overrides)
    return BenchConfig(output_dir=output_dir or QUICK_OUTPUT_DIR, **settings)  # type: ignore[arg-type]
