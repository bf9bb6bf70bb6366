"""The server suite: our mock server against Prism, each its own process on 127.0.0.1.

Three questions, one table each: how many small (16-lead) responses per second and at what
latency (wrk, concurrency 1 and 16, with the load generator's own ceiling beside them); how long
and how much memory one big response takes; and whether small requests stay fast while a big
response is streaming (a test suite's connector and its admin calls share one server).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.http_probe import Fetched, SmallRequests, fetch
from bench.loadgen import (
    LoadGenerator,
    LoadResult,
    LoadTarget,
    PythonGenerator,
    WrkGenerator,
    find_or_install_wrk,
    percentile,
)
from bench.mock import RunningServer, add_bot
from bench.prism import find_or_install_prism, start_prism, write_spec_with_example
from bench.procs import PeakRss
from bench.results import (
    BIG_RESPONSE,
    CEILING,
    LOAD_TEST,
    MOCK,
    PRISM,
    SERVER,
    UNDER_STREAM,
    Row,
    error_row,
    skipped_row,
)
from bench.suite import Suite

PRISM_START_SECONDS = 120.0
PRISM_BIG_START_SECONDS = 300.0
"""Prism parses the whole spec, example included, before it listens: give a big one time."""
IDLE_SAMPLES = 200
STREAM_SAMPLES = 200
MAX_STREAMS = 3
_MB = 1024 * 1024


def load_row(
    name: str, leads: int, concurrency: int, result: LoadResult, peak_mb: float | None, how: str
) -> Row:
    """A load test's row; `how` says what was requested and with which generator."""
    return Row(
        SERVER,
        name,
        None,
        leads,
        concurrency=concurrency,
        requests_per_s=result.requests_per_s,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        seconds=result.seconds,
        peak_rss_mb=peak_mb,
        note=f"{how}; {result.describe()}",
    )


def big_response_problem(fetched: Fetched, leads: int) -> str | None:
    if fetched.status != 200:
        return f"HTTP {fetched.status}"
    if fetched.leads != leads:
        return f"{fetched.leads} leads in the body, {leads} expected"
    return None


class ServerSuite(Suite):
    """Runs the server suite: load tests, one big response, small requests during a stream."""

    work_name = "server"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows: list[Row] = []
        self.generator: LoadGenerator = PythonGenerator()
        self.generator_note = ""
        self.prism: Path | None = None
        self.prism_note = ""

    @staticmethod
    def step_count(config: BenchConfig) -> int:
        concurrencies = len(config.concurrencies)
        load = 1 + 2 * concurrencies + 1 + concurrencies
        return 1 + load + 2 * len(config.server_sizes) + 1

    def _add(self, row: Row) -> None:
        self.rows.append(row)
        self.publish(list(self.rows))
        if row.is_error:
            self.progress.log(f"  {row.name} {row.leads:,} leads: {row.note}")

    def run(self) -> list[Row]:
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        with self.progress.step("server: load generator and Prism"):
            self._find_tools()
        self._guarded(LOAD_TEST, self.config.small_leads, self._load_tests)
        for leads in self.config.server_sizes:
            self._guarded(BIG_RESPONSE, leads, lambda n=leads: self._big_response(n))
        largest = max(self.config.server_sizes)
        with self.progress.step("server: small requests while a big response streams"):
            self._guarded(UNDER_STREAM, largest, lambda: self._under_stream(largest))
        return list(self.rows)

    def _guarded(self, kind: str, leads: int, phase: Callable[[], None]) -> None:
        """Run one phase; an unexpected failure becomes an error row and the next phase runs."""
        try:
            phase()
        except Exception as exc:
            self._add(error_row(SERVER, MOCK, None, leads, f"{kind}: {type(exc).__name__}: {exc}"))

    # Tools

    def _find_tools(self) -> None:
        install = self.config.install_tools
        wrk, why = find_or_install_wrk(install, self.work / "apt.log")
        if wrk is not None:
            self.generator = WrkGenerator(wrk, self.work / "wrk")
            self.generator_note = why
        else:
            self.generator_note = f"{why}; fell back to the asyncio+httpx generator"
            self.progress.log(f"  load generator: {self.generator_note}")
        if self.config.skip_prism:
            self.prism_note = "--skip-prism given"
            return
        self.prism, self.prism_note = find_or_install_prism(install, self.work / "npm.log")
        if self.prism is None:
            self.progress.log(f"  prism: {self.prism_note}")

    # Load tests

    def _load_tests(self) -> None:
        small = self.config.small_leads
        body = self.work / f"body-{small}.json"
        server, problem = None, ""
        with self.progress.step(f"server: mock server with {small} leads"):
            try:
                server = self._start_ours(small)
            except Exception as exc:
                problem = f"{LOAD_TEST}: server did not start: {exc}"
        steps = [*self._ceiling_labels(), *self._load_labels(MOCK)]
        if server is None:
            for label, concurrency, leads in steps:
                with self.progress.step(label):
                    self._add(
                        error_row(SERVER, MOCK, None, leads, problem, concurrency=concurrency)
                    )
            self._prism_load_tests(None)
            return
        try:
            target = self._ours_target(server, self.config.bot_id)
            fetched = fetch(target.url, target.method, target.headers or {}, sink=body)
            health = LoadTarget(f"{server.root_url}/_admin/health")
            for label, concurrency, leads in steps:
                with self.progress.step(label):
                    if leads == 0:
                        how = f"{CEILING}: GET /_admin/health of our server"
                        self._measure_load(MOCK, server.pid, health, concurrency, 0, how)
                    else:
                        how = f"{LOAD_TEST}: POST, {small} leads ({fetched.body_bytes} bytes)"
                        self._measure_load(MOCK, server.pid, target, concurrency, small, how)
        finally:
            self.group.stop(server.process)
        self._prism_load_tests(body if body.exists() else None)

    def _ceiling_labels(self) -> list[tuple[str, int, int]]:
        return [
            (f"server: load generator ceiling, concurrency {c}", c, 0)
            for c in self.config.concurrencies
        ]

    def _load_labels(self, name: str) -> list[tuple[str, int, int]]:
        small = self.config.small_leads
        return [
            (f"server: {name} {small} leads, concurrency {c}", c, small)
            for c in self.config.concurrencies
        ]

    def _measure_load(
        self, name: str, pid: int, target: LoadTarget, concurrency: int, leads: int, how: str
    ) -> None:
        seconds = self.config.load_seconds
        how = f"{how}; {self.generator.describe(concurrency, seconds)}"
        try:
            if self.config.warmup_seconds > 0:
                self.generator.run(target, concurrency, self.config.warmup_seconds)
            with PeakRss(pid) as rss:
                result = self.generator.run(target, concurrency, seconds)
        except Exception as exc:
            self._add(
                error_row(SERVER, name, None, leads, f"{how}: {exc}", concurrency=concurrency)
            )
            return
        row = load_row(name, leads, concurrency, result, rss.peak_mb, how)
        if result.requests == 0 or result.non_2xx or result.errors:
            row = error_row(SERVER, name, None, leads, row.note, concurrency=concurrency)
        self._add(row)

    def _prism_load_tests(self, body: Path | None) -> None:
        small = self.config.small_leads
        labels = self._load_labels(PRISM)
        prism, problem = None, None
        with self.progress.step(f"server: Prism with {small} leads"):
            if self.prism is None:
                problem = None
            elif body is None:
                problem = "no body from our server to give Prism as its example"
            else:
                try:
                    spec = self.work / f"prism-spec-{small}.json"
                    write_spec_with_example(body, spec)
                    prism = start_prism(
                        self.group, self.prism, spec, self.work / "prism-small", PRISM_START_SECONDS
                    )
                except Exception as exc:
                    problem = f"Prism did not start: {exc}"
        try:
            for label, concurrency, leads in labels:
                with self.progress.step(label):
                    if prism is None:
                        self._add(self._prism_not_run(leads, problem, LOAD_TEST, concurrency))
                        continue
                    url = f"{prism.base_url}/get-conversation-ids/{self.config.bot_id}"
                    target = LoadTarget(url, "POST", self._auth())
                    how = f"{LOAD_TEST}: POST, {small} leads (static example = our body)"
                    self._measure_load(PRISM, prism.pid, target, concurrency, small, how)
        finally:
            if prism is not None:
                self.group.stop(prism.process)

    def _prism_not_run(
        self, leads: int, problem: str | None, kind: str, concurrency: int | None = None
    ) -> Row:
        if problem is None:
            return skipped_row(SERVER, PRISM, None, leads, f"{kind}: {self.prism_note}",
                               concurrency=concurrency)  # fmt: skip
        return error_row(SERVER, PRISM, None, leads, f"{kind}: {problem}", concurrency=concurrency)

    # Big responses

    def _big_response(self, leads: int) -> None:
        body = self.work / f"body-{leads}.json"
        with self.progress.step(f"server: {MOCK} one response of {leads:,} leads"):
            self._big_response_ours(leads, body if self.prism is not None else None)
        with self.progress.step(f"server: {PRISM} one response of {leads:,} leads"):
            try:
                self._big_response_prism(leads, body)
            finally:
                body.unlink(missing_ok=True)

    def _big_response_ours(self, leads: int, sink: Path | None) -> None:
        try:
            server = self._start_ours(leads)
        except Exception as exc:
            self._add(error_row(SERVER, MOCK, None, leads, f"{BIG_RESPONSE}: {exc}"))
            return
        try:
            idle = PeakRss(server.pid)
            idle.sample_now()
            target = self._ours_target(server, self.config.bot_id)
            with PeakRss(server.pid, interval=0.02) as rss:
                fetched = fetch(target.url, target.method, target.headers or {}, sink=sink)
            self._add(self._big_row(MOCK, leads, fetched, rss.peak_mb, idle.peak_mb))
        except Exception as exc:
            self._add(error_row(SERVER, MOCK, None, leads, f"{BIG_RESPONSE}: {exc}"))
        finally:
            self.group.stop(server.process)

    def _big_response_prism(self, leads: int, body: Path) -> None:
        if self.prism is None:
            self._add(self._prism_not_run(leads, None, BIG_RESPONSE))
            return
        if not body.exists():
            self._add(self._prism_not_run(leads, "our server gave no body to copy", BIG_RESPONSE))
            return
        spec = self.work / f"prism-spec-{leads}.json"
        prism = None
        try:
            write_spec_with_example(body, spec)
            body.unlink()
            prism = start_prism(
                self.group, self.prism, spec, self.work / f"prism-{leads}", PRISM_BIG_START_SECONDS
            )
            idle = PeakRss(prism.pid)
            idle.sample_now()
            url = f"{prism.base_url}/get-conversation-ids/{self.config.bot_id}"
            with PeakRss(prism.pid, interval=0.02) as rss:
                fetched = fetch(url, "POST", self._auth())
            self._add(self._big_row(PRISM, leads, fetched, rss.peak_mb, idle.peak_mb))
        except Exception as exc:
            self._add(self._prism_not_run(leads, f"Prism failed: {exc}", BIG_RESPONSE))
        finally:
            if prism is not None:
                self.group.stop(prism.process)
            spec.unlink(missing_ok=True)

    def _big_row(
        self, name: str, leads: int, fetched: Fetched, peak: float | None, idle: float | None
    ) -> Row:
        detail = (
            f"{BIG_RESPONSE}: {fetched.body_bytes / _MB:.0f} MB body read to the end in "
            f"{fetched.seconds:.2f} s; {fetched.leads} leads counted"
        )
        if idle is not None:
            detail += f"; RSS before the request {idle:.0f} MB"
        problem = big_response_problem(fetched, leads)
        if problem:
            return error_row(SERVER, name, None, leads, f"{detail}: {problem}")
        return Row(
            SERVER, name, None, leads, seconds=fetched.seconds, peak_rss_mb=peak, note=detail
        )

    # Small requests during a big response

    def _under_stream(self, leads: int) -> None:
        small = self.config.small_leads
        try:
            server = self._start_ours(leads)
        except Exception as exc:
            self._add(error_row(SERVER, MOCK, None, leads, f"{UNDER_STREAM}: {exc}"))
            return
        try:
            add_bot(server, self.config.small_bot_id, small)
            self._add(self._probe_under_stream(server, leads))
        except Exception as exc:
            self._add(error_row(SERVER, MOCK, None, leads, f"{UNDER_STREAM}: {exc}"))
        finally:
            self.group.stop(server.process)

    def _probe_under_stream(self, server: RunningServer, leads: int) -> Row:
        big = self._ours_target(server, self.config.bot_id)
        small = self._ours_target(server, self.config.small_bot_id)
        with SmallRequests(small.url, small.method, small.headers or {}) as probe:
            idle = sorted(probe.timed() for _ in range(IDLE_SAMPLES))
            during: list[float] = []
            streams = 0
            while len(during) < STREAM_SAMPLES and streams < MAX_STREAMS:
                streams += 1
                during += self._samples_during_one_stream(big, probe)
            failures = probe.failures
        if not during:
            raise RuntimeError("the big response ended before any small request completed")
        during.sort()
        note = (
            f"{UNDER_STREAM}: POST {self.config.small_leads} leads, one at a time, while "
            f"{leads:,} leads stream to another client; {len(during)} requests over {streams} "
            f"big response(s); idle p50 {percentile(idle, 50) * 1000:.2f} ms, "
            f"p99 {percentile(idle, 99) * 1000:.2f} ms"
        )
        if failures:
            return error_row(SERVER, MOCK, None, leads, f"{note}: {failures} non-2xx answers")
        return Row(
            SERVER,
            MOCK,
            None,
            leads,
            p50_ms=percentile(during, 50) * 1000,
            p99_ms=percentile(during, 99) * 1000,
            note=note,
        )

    @staticmethod
    def _samples_during_one_stream(big: LoadTarget, probe: SmallRequests) -> list[float]:
        started = threading.Event()
        failure: list[BaseException] = []

        def read_big() -> None:
            try:
                fetch(big.url, big.method, big.headers or {}, started=started)
            except BaseException as exc:  # reported by the caller's thread
                failure.append(exc)
                started.set()

        reader = threading.Thread(target=read_big, name="big-response", daemon=True)
        reader.start()
        started.wait(60)
        samples = []
        # A sample counts only if the big body was still streaming when it finished.
        while reader.is_alive():
            seconds = probe.timed()
            if reader.is_alive():
                samples.append(seconds)
        reader.join()
        if failure:
            raise RuntimeError(f"the big response failed: {failure[0]}")
        return samples

    # Helpers

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key}", "Accept": "application/json"}

    def _ours_target(self, server: RunningServer, bot_id: str) -> LoadTarget:
        return LoadTarget(f"{server.base_url}/get-conversation-ids/{bot_id}", "POST", self._auth())

    def _start_ours(self, leads: int) -> RunningServer:
        return self.start_mock(leads, self.work / f"mock-{leads}")
