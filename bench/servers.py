"""The servers the bench measures, each its own process on 127.0.0.1, and its HTTP clients.

Our mock runs as the `chatnode-mock-server` CLI: in-process it would share the client's GIL and
RSS. Prism 5 is installed with npm into `bench/.tools` (never system-wide). The clients are pure
Python: the load generator speaks HTTP/1.1 on raw asyncio streams, which on loopback drives our
server as fast as autocannon does, and reports its own CPU share (was it the limit?).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import re
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from threading import Event
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.config import BenchConfig
from bench.procs import Process, ProcessGroup, tail
from chatnode_spec import api_document_copy, operation_at, server_base_path

TOOLS_DIR = Path(__file__).resolve().parent / ".tools"
PRISM = TOOLS_DIR / "node_modules" / ".bin" / "prism"
PRISM_PACKAGE = "@stoplight/prism-cli@5"  # the usual OpenAPI mock, our server's peer
LEADS_PATH = "/get-conversation-ids/{bot_id}"
"""The spec operation that serves all of one bot's leads in one response."""
LEAD_MARKER = b'"session_id":'
"""One per lead in our server's compact JSON; no prefix of it is also a suffix."""


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]


@dataclass
class Server:
    process: Process
    api_url: str
    """Where the spec's paths live: `http://127.0.0.1:PORT/v1` for ours, the root for Prism."""
    api_key: str

    def request(self, bot_id: str) -> Request:
        """The request for all of a bot's leads, as a client sends it."""
        operation = operation_at(LEADS_PATH)
        url = self.api_url + operation.path_template.format(bot_id=bot_id)
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        return Request(operation.method, url, headers)


def start_server(group: ProcessGroup, argv: list[str], log: Path, key: str) -> Server:
    """Start a server and wait for the URL it prints (Prism parses a big example first)."""
    process, deadline = group.start(argv, log), time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if match := re.search(r"listening on (http://\S+)", log.read_text(errors="replace")):
            return Server(process, match.group(1).rstrip("/"), key)
        time.sleep(0.05)
    group.stop(process)
    state = "timed out" if process.returncode is None else f"exited {process.returncode}"
    raise RuntimeError(f"{Path(argv[0]).name} {state}: {tail(log.with_suffix('.err'))}")


def start_mock(
    group: ProcessGroup,
    log: Path,
    config: BenchConfig,
    leads: int,
    messages: int | None = None,
    bots: Sequence[str] = (),
) -> Server:
    """`chatnode-mock-server` on a free port, serving `leads` leads to each of `bots` (the
    config's bot if none), and `messages` chat messages in each lead's session (else the mock's
    default range)."""
    flags = f"--port 0 --api-key {config.api_key} --leads {leads} --seed {config.seed}".split()
    flags += [] if messages is None else ["--messages", str(messages)]
    flags += [flag for bot in bots or [config.bot_id] for flag in ("--bot", bot)]
    cli = str(Path(sys.executable).parent / "chatnode-mock-server")
    return start_server(group, [cli, *flags], log, config.api_key)


def admin(server: Server, method: str, path: str, body: Any = None) -> Any:
    """One call to the mock's admin API (bots, faults, the journal), its JSON answer."""
    root = server.api_url.removesuffix(server_base_path())
    response = httpx.request(method, f"{root}/_admin{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def find_prism(install: bool, log: Path) -> tuple[Path | None, str]:
    """Prism's executable, installed into bench/.tools when allowed; else None and why."""
    npm = shutil.which("npm")
    if not PRISM.exists() and install and npm:
        with log.open("wb") as out:
            argv = [npm, "install", "--prefix", str(TOOLS_DIR), PRISM_PACKAGE, "--no-audit"]
            subprocess.run(argv, stdout=out, stderr=out, timeout=600, check=False)
    if PRISM.exists():
        return PRISM, ""
    if not install:
        return None, "Prism is not in bench/.tools and --no-install was given"
    return None, f"npm install {PRISM_PACKAGE} failed: {tail(log)}" if npm else "npm missing"


def prism_spec(body: Path) -> Path:
    """Our spec (a private copy) with `body` as the leads' 200 example, written beside it."""
    document, operation = api_document_copy(), operation_at(LEADS_PATH)
    answer = document["paths"][LEADS_PATH][operation.method.lower()]["responses"]
    example = {"bench": {"value": json.loads(body.read_bytes())}}
    answer["200"]["content"]["application/json"]["examples"] = example
    body.with_suffix(".spec.json").write_text(json.dumps(document))
    return body.with_suffix(".spec.json")


def start_prism(group: ProcessGroup, prism: Path, body: Path, key: str) -> Server:
    """`prism mock` serving `body`, on a port free right now (Prism has no `--port 0`)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spec = prism_spec(body)
    argv = [str(prism), "mock", str(spec), "-h", "127.0.0.1", "-p", str(port)]
    return start_server(group, argv, spec.with_suffix(".out"), key)


def p50_p99(sorted_seconds: Sequence[float]) -> tuple[float, float]:
    """Nearest-rank p50 and p99, in milliseconds, of sorted durations in seconds."""
    n = len(sorted_seconds)
    return sorted_seconds[math.ceil(n / 2) - 1] * 1e3, sorted_seconds[math.ceil(n * 0.99) - 1] * 1e3


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    """Seconds per answer, sorted once the load is over."""
    failures: int = 0
    seconds: float = 0.0
    generator_cpu: float = 0.0
    """CPU seconds the generator used per wall second (1.0 = one core busy)."""


async def _connection(request: Request, deadline: float, load: Load, until: Event) -> None:
    """One keep-alive connection sending the request again as soon as the answer is whole."""
    url = urlsplit(request.url)
    head = [f"{request.method} {url.path} HTTP/1.1", f"Host: {url.netloc}"]
    message = "\r\n".join([*head, *(f"{k}: {v}" for k, v in request.headers.items()), "", ""])
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    while (sent := time.perf_counter()) < deadline and not until.is_set():
        writer.write(message.encode())
        answer = await reader.readuntil(b"\r\n\r\n")
        if not (length := re.search(rb"(?i)\r\ncontent-length: *(\d+)", answer)):
            raise RuntimeError(f"an answer without Content-Length (chunked?): {answer[:99]!r}")
        await reader.readexactly(int(length.group(1)))
        if not until.is_set():  # an answer that ended after `until` does not count
            load.latencies.append(time.perf_counter() - sent)
        load.failures += answer[9:10] != b"2"
    writer.close()


def run_load(request: Request, n: int, seconds: float, stop: Event | None = None) -> Load:
    """`n` connections sending `request` back to back, for `seconds` or until `stop` is set."""

    async def drive() -> None:
        until, deadline = stop or Event(), time.perf_counter() + seconds
        await asyncio.gather(*(_connection(request, deadline, load, until) for _ in range(n)))

    load, cpu, started = Load(), _cpu(), time.perf_counter()
    asyncio.run(drive())
    load.seconds = time.perf_counter() - started
    load.generator_cpu = (_cpu() - cpu) / load.seconds
    load.latencies.sort()
    return load


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class MarkerCounter:
    """Counts a marker across chunk boundaries: the tail carried over is one byte shorter than
    the marker, so a marker split between chunks counts once, and one that cannot overlap
    itself is never counted twice."""

    def __init__(self, marker: bytes) -> None:
        self.marker, self.count, self._carry = marker, 0, b""

    def feed(self, chunk: bytes) -> None:
        data = self._carry + chunk
        self.count += data.count(self.marker)
        self._carry = data[1 - len(self.marker) :]


@dataclass(frozen=True)
class Fetched:
    status: int
    seconds: float
    """From sending the request to the body's last byte."""
    body_bytes: int
    leads: int


def fetch(request: Request, sink: Path | None = None, started: Event | None = None) -> Fetched:
    """One request, its body read to the end (into `sink` if given) and its leads counted
    without parsing it; `started` is set once the status line has arrived."""
    url, counter, size = urlsplit(request.url), MarkerCounter(LEAD_MARKER), 0
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=300)
    with closing(connection), sink.open("wb") if sink else nullcontext() as out:
        begin = time.perf_counter()
        connection.request(request.method, url.path, headers=request.headers)
        response = connection.getresponse()
        if started is not None:
            started.set()
        while chunk := response.read(1 << 20):
            size += len(chunk)
            counter.feed(chunk)
            if out:
                out.write(chunk)
        return Fetched(response.status, time.perf_counter() - begin, size, counter.count)
