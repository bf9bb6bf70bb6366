"""Load generators for the server suite: wrk when it can be had, else a small asyncio one.

wrk is the established tool (C, epoll, HdrHistogram latencies); a Lua script gives it the POST,
the bearer header and a machine-readable summary line. Each run also reports how much of one
core the generator itself used: a generator near 100% is the bottleneck, not the server.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import resource
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

RESULT_MARK = "BENCH_RESULT"
WRK_THREADS = 1
"""One wrk thread drives 16 connections on loopback easily and leaves the other core to the
server under test; the ceiling row shows how far that one thread goes."""
REQUEST_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class LoadTarget:
    """One HTTP request, repeated: the server suite's unit of load."""

    url: str
    method: str = "GET"
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    """Connect, read and write errors and timeouts."""
    non_2xx: int
    generator_cpu: float | None = None
    """CPU seconds the generator used per wall second (1.0 = one core busy)."""

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        parts = [f"{self.requests} requests in {self.seconds:.1f} s"]
        parts.append(f"{self.errors} errors, {self.non_2xx} non-2xx")
        if self.generator_cpu is not None:
            parts.append(f"generator used {self.generator_cpu:.0%} of a core")
        return ", ".join(parts)


def wrk_script(target: LoadTarget) -> str:
    """The Lua script: method and headers, and a `done` hook that prints one parseable line."""
    lines = [f'wrk.method = "{target.method}"']
    for name, value in (target.headers or {}).items():
        lines.append(f'wrk.headers["{_lua_escape(name)}"] = "{_lua_escape(value)}"')
    lines.append(
        f"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "{RESULT_MARK} requests=%d duration_us=%d p50_us=%.1f p99_us=%.1f "
    .. "connect=%d read=%d write=%d status=%d timeout=%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""
    )
    return "\n".join(lines)


def _lua_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


_FIELD = re.compile(r"(\w+)=([0-9.]+)")


def parse_wrk_output(output: str) -> LoadResult:
    """The numbers from the script's summary line; ValueError if wrk never printed it."""
    for line in output.splitlines():
        if line.startswith(RESULT_MARK):
            fields = {k: float(v) for k, v in _FIELD.findall(line)}
            return LoadResult(
                requests=int(fields["requests"]),
                seconds=fields["duration_us"] / 1e6,
                p50_ms=fields["p50_us"] / 1000,
                p99_ms=fields["p99_us"] / 1000,
                errors=int(
                    fields["connect"] + fields["read"] + fields["write"] + fields["timeout"]
                ),
                non_2xx=int(fields["status"]),
            )
    raise ValueError(f"wrk printed no {RESULT_MARK} line; its output was: {output[-500:]!r}")


class WrkGenerator:
    name = "wrk"

    def __init__(self, executable: Path, work_dir: Path) -> None:
        self.executable = executable
        self.work_dir = work_dir

    def describe(self, concurrency: int, seconds: float) -> str:
        threads = min(WRK_THREADS, concurrency)
        return f"wrk -t{threads} -c{concurrency} -d{seconds:g}s"

    def run(self, target: LoadTarget, concurrency: int, seconds: float) -> LoadResult:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        script = self.work_dir / f"{target.method.lower()}-{abs(hash(target.url))}.lua"
        script.write_text(wrk_script(target))
        argv = [
            str(self.executable),
            f"-t{min(WRK_THREADS, concurrency)}",
            f"-c{concurrency}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={REQUEST_TIMEOUT_SECONDS}s",
            "-s",
            str(script),
            target.url,
        ]
        before = _children_cpu()
        started = time.perf_counter()
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
            start_new_session=True,
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(
                f"wrk exited {done.returncode}: {(done.stderr or done.stdout)[-400:]}"
            )
        result = parse_wrk_output(done.stdout)
        cpu = (_children_cpu() - before) / wall if wall > 0 else None
        return LoadResult(**{**result.__dict__, "generator_cpu": cpu})


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class PythonGenerator:
    """The fallback when wrk cannot be installed: asyncio workers on one httpx client.

    It tops out at a few thousand requests/s on one core, so treat its numbers as a lower bound
    for any server near that ceiling (the ceiling row says where it is).
    """

    name = "python-asyncio-httpx"

    def describe(self, concurrency: int, seconds: float) -> str:
        return f"asyncio+httpx, {concurrency} connection(s), {seconds:g} s"

    def run(self, target: LoadTarget, concurrency: int, seconds: float) -> LoadResult:
        before = _self_cpu()
        started = time.perf_counter()
        latencies, non_2xx, errors = asyncio.run(_drive(target, concurrency, seconds))
        wall = time.perf_counter() - started
        latencies.sort()
        return LoadResult(
            requests=len(latencies),
            seconds=seconds,
            p50_ms=percentile(latencies, 50) * 1000,
            p99_ms=percentile(latencies, 99) * 1000,
            errors=errors,
            non_2xx=non_2xx,
            generator_cpu=(_self_cpu() - before) / wall if wall > 0 else None,
        )


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _drive(
    target: LoadTarget, concurrency: int, seconds: float
) -> tuple[list[float], int, int]:
    latencies: list[float] = []
    counts = {"non_2xx": 0, "errors": 0}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT_SECONDS) as client:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    response = await client.request(
                        target.method, target.url, headers=dict(target.headers or {})
                    )
                except httpx.HTTPError:
                    counts["errors"] += 1
                    continue
                latencies.append(time.perf_counter() - sent)
                if not 200 <= response.status_code < 300:
                    counts["non_2xx"] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, counts["non_2xx"], counts["errors"]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (NaN for none)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


LoadGenerator = WrkGenerator | PythonGenerator


def find_or_install_wrk(install: bool, log_path: Path) -> tuple[Path | None, str]:
    """wrk's path, installing Debian's package when allowed; else None and the reason."""
    found = shutil.which("wrk")
    if found:
        return Path(found), "wrk found on PATH"
    if not install:
        return None, "wrk is not installed and installing was not allowed (--no-install)"
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return None, "wrk is not installed and apt-get as root is not available to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with log_path.open("ab") as log:
        for argv in (
            ["apt-get", "install", "-y", "--no-install-recommends", "wrk"],
            ["apt-get", "update"],
            ["apt-get", "install", "-y", "--no-install-recommends", "wrk"],
        ):
            try:
                subprocess.run(argv, stdout=log, stderr=log, env=env, timeout=300, check=False)
            except subprocess.TimeoutExpired:
                return None, f"`{' '.join(argv)}` timed out; see {log_path}"
            found = shutil.which("wrk")
            if found:
                return Path(found), "wrk installed with apt-get by the bench"
    return None, f"apt-get could not install wrk; see {log_path}"
