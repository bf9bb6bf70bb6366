"""The server suite, on one mock server with a big bot and a small one: how many 16-lead answers
a second at concurrency 16 (Prism too, serving the same leads); how long and how much memory one
big response takes; and whether small requests stay fast while it streams (a test suite's
connector and its admin calls share one server)."""

from __future__ import annotations

from functools import partial
from threading import Event, Thread
from typing import TYPE_CHECKING

from bench import servers
from bench.procs import PeakRss, tree_rss_mb
from bench.rows import Measure, Name, Row
from bench.servers import Server, fetch, p50_p99, run_load

if TYPE_CHECKING:
    from collections.abc import Callable

    from bench.run_state import Run

SMALL_BOT = "bench-small-bot"
LOAD_BODY = "load-body.json"


def load(run: Run, server: Server, row: Row) -> None:
    """Requests/s of the small bot after an unmeasured warm-up; its body is kept for Prism."""
    request, config = server.request(SMALL_BOT), run.config
    fetch(request, config.work_dir / "server" / LOAD_BODY)
    run_load(request, config.concurrency, config.warmup_seconds)
    with PeakRss(server.process.pid) as rss:
        done = run_load(request, config.concurrency, config.load_seconds)
    if done.failures or not done.latencies:
        raise RuntimeError(f"{done.failures} of {len(done.latencies)} answers were not 2xx")
    row.requests_per_s, row.seconds = len(done.latencies) / done.seconds, done.seconds
    row.p50_ms, row.p99_ms = p50_p99(done.latencies)
    row.peak_rss_mb, cpu = rss.peak_mb, done.generator_cpu
    row.note = f"{len(done.latencies)} requests; the generator used {cpu:.0%} of a core"


def big_response(run: Run, server: Server, row: Row) -> None:
    """Every lead of the big bot in one response, read to the end and counted."""
    idle = tree_rss_mb(server.process.pid)
    with PeakRss(server.process.pid, interval=0.02) as rss:
        fetched = fetch(server.request(run.config.bot_id))
    if fetched.status != 200 or fetched.leads != row.leads:
        raise RuntimeError(f"HTTP {fetched.status}, {fetched.leads} leads of {row.leads}")
    row.seconds, row.peak_rss_mb, row.records = fetched.seconds, rss.peak_mb, fetched.leads
    row.note = f"{fetched.body_bytes / 2**20:.0f} MB body; RSS before the request {idle:.0f} MB"


def under_stream(run: Run, server: Server, row: Row) -> None:
    """Small requests one at a time, idle and then while the big response streams to another
    client; only those that ended while it still streamed count."""
    small, started, ended, big = server.request(SMALL_BOT), Event(), Event(), []

    def read_big() -> None:
        try:
            big.append(fetch(server.request(run.config.bot_id), started=started).status)
        finally:
            started.set()
            ended.set()

    idle, reader = run_load(small, 1, 1.0), Thread(target=read_big)
    reader.start()
    started.wait(60)
    during = run_load(small, 1, 600, stop=ended)
    reader.join()
    if big != [200] or idle.failures + during.failures or not during.latencies:
        raise RuntimeError(f"big response: HTTP {big}; {len(during.latencies)} small ones timed")
    (row.p50_ms, row.p99_ms), (p50, p99) = p50_p99(during.latencies), p50_p99(idle.latencies)
    row.note = (
        f"{len(during.latencies)} requests as it streamed; idle: p50 {p50:.2f}, p99 {p99:.2f} ms"
    )


TESTS = {Measure.LOAD: load, Measure.BIG_RESPONSE: big_response, Measure.UNDER_STREAM: under_stream}


def measure(run: Run, row: Row, test: Callable[[Row], None]) -> None:
    """Fill the row, or make it an error row: one failure must not end the suite."""
    run.say(f"server: {row.name} {row.measure}, {row.leads:,} leads")
    try:
        test(row)
    except Exception as exc:
        row = row.failed(f"{type(exc).__name__}: {exc}")
    run.put(row)
    run.say(f"  {row.status}: {row.error or row.note}")


def run_server_suite(run: Run) -> None:
    config, work = run.config, run.scratch("server")

    def row(name: Name, measure: Measure) -> Row:
        small = measure == Measure.LOAD
        leads = config.small_leads if small else config.big_leads
        concurrency = config.concurrency if small else None
        return Row("server", name, None, leads, measure, concurrency=concurrency)

    tests = [(row(Name.MOCK, measure), test) for measure, test in TESTS.items()]
    run.say(f"server: mock server, {config.big_leads:,} and {config.small_leads} leads")
    try:
        server = servers.start_mock(run.group, work / "mock.out", config, config.big_leads)
        servers.admin(server, "POST", "/bots", {"bot_id": SMALL_BOT, "count": config.small_leads})
    except Exception as exc:
        for mock_row, _ in tests:
            run.put(mock_row.failed(f"mock server: {exc}"))
    else:
        try:
            for mock_row, test in tests:
                measure(run, mock_row, partial(test, run, server))
        finally:
            run.group.stop(server.process)
    prism, why = None, "--skip-prism given"
    if not config.skip_prism:
        prism, why = servers.find_prism(config.install, work / "npm.log")
    if prism is None:
        return run.put(row(Name.PRISM, Measure.LOAD).failed(why, "skipped"))

    def on_prism(row: Row) -> None:
        """The load test against Prism serving, as its example, the body ours sent."""
        server = servers.start_prism(run.group, prism, work / LOAD_BODY, config.api_key)
        try:
            load(run, server, row)
        finally:
            run.group.stop(server.process)

    measure(run, row(Name.PRISM, Measure.LOAD), on_prism)
