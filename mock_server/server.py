"""`MockServer`: the mock on a free 127.0.0.1 port in a background thread, for tests and scripts.

with MockServer(MockConfig(leads_per_bot=5)) as mock:
    httpx.post(f"{mock.base_url}/get-conversation-ids/bot-alpha",
               headers={"Authorization": f"Bearer {mock.api_key}"})
    mock.append("bot-alpha", count=3)
    session_id = mock.leads("bot-alpha")[0]["session_id"]
    mock.append_message("bot-alpha", session_id, content="Any news on my refund?")
    with mock.inject(faults.status(429, retry_after=1, times=2)):
        ...
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import uvicorn

import chatnode_spec
from mock_server.app import create_app
from mock_server.config import MockConfig
from mock_server.data import DEFAULT_RECENT_SESSIONS
from mock_server.faults import FaultPlan, FaultRule, parse_fault
from mock_server.service import MockService
from mock_server.store import Exchange

_INCOMPLETE_RESPONSE = "ASGI callable returned without completing response."


class _DropFaultLogFilter(logging.Filter):
    """The `drop` fault leaves its response unfinished on purpose; that is not a server error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _INCOMPLETE_RESPONSE


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket; port 0 asks the OS for a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio only sets TCP_NODELAY on such sockets, and without it every
    # keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def uvicorn_server(
    service: MockService, config: MockConfig, graceful_seconds: float | None = None
) -> uvicorn.Server:
    """A uvicorn server for the mock's app, configured the same for the CLI and MockServer."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropFaultLogFilter) for f in logger.filters):
        logger.addFilter(_DropFaultLogFilter())
    server_config = uvicorn.Config(
        create_app(config, service),
        lifespan="off",
        access_log=False,
        log_level=config.log_level,
        timeout_graceful_shutdown=graceful_seconds,
    )
    return uvicorn.Server(server_config)


def url_of(sock: socket.socket) -> str:
    """`http://HOST:PORT` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class InjectedFault:
    """A fault rule added to a running mock: `remove()` it, or use it as a context manager."""

    def __init__(self, plan: FaultPlan, rule: FaultRule) -> None:
        self.rule = rule
        self._plan = plan
        self.id = plan.add(rule)

    def remove(self) -> bool:
        """Take the rule out of the plan; False if it was already gone (spent or cleared)."""
        return self._plan.remove(self.id)

    def __enter__(self) -> InjectedFault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class MockServer:
    """The mock API served by uvicorn in a daemon thread; a context manager."""

    def __init__(self, config: MockConfig | None = None, **overrides: Any) -> None:
        config = config or MockConfig()
        self.config = replace(config, **overrides) if overrides else config
        self.service = MockService(self.config)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.root_url = ""
        """`http://127.0.0.1:PORT`, where `/_admin/` lives."""
        self.base_url = ""
        """`http://127.0.0.1:PORT/v1`, what a ChatNode client takes as its base URL."""

    @property
    def api_key(self) -> str:
        """The first configured API key (reads every bot with the default config)."""
        return self.config.first_api_key

    @property
    def admin_headers(self) -> dict[str, str]:
        """The headers a `/_admin/` call over HTTP needs: the admin token, when one is set."""
        token = self.config.admin_token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def start(self, timeout: float = 10.0) -> MockServer:
        """Bind, start serving, and return once the server accepts connections. If it cannot,
        the socket and thread are released before the error propagates, so `start` may be
        called again."""
        if self._thread is not None:
            raise RuntimeError("MockServer is already running")
        try:
            self._socket = bind_socket(self.config.host, self.config.port)
            self._server = uvicorn_server(self.service, self.config, graceful_seconds=1.0)
            port = self._socket.getsockname()[1]
            thread = threading.Thread(target=self._serve, name=f"chatnode-mock:{port}", daemon=True)
            thread.start()
            self._thread = thread
            _wait_for(lambda: self._server is not None and self._server.started, thread, timeout)
        except BaseException:
            self.stop()
            raise
        self.root_url = url_of(self._socket)
        self.base_url = self.root_url + chatnode_spec.server_base_path()
        return self

    def _serve(self) -> None:
        assert self._server is not None and self._socket is not None
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread; safe to call twice."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"mock server thread did not stop within {timeout} s")
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # The Python API mirrors the admin endpoints, in-process: it needs no admin token.

    def leads(self, bot_id: str) -> list[dict[str, Any]]:
        """What the API serves for the bot now, as dicts (materialised: for small bots)."""
        return self.service.store.leads(bot_id)

    def append(
        self, bot_id: str, count: int | None = None, leads: Sequence[Any] | None = None
    ) -> list[Any]:
        """Add `count` seeded leads created after every existing one, or `leads` verbatim;
        returns the added leads."""
        return self.service.store.append(bot_id, count=count, leads=leads)

    def set_leads(
        self, bot_id: str, leads: Sequence[Any] | None = None, *, count: int | None = None
    ) -> None:
        """Replace the bot's leads with `leads` verbatim or `count` freshly seeded ones."""
        self.service.store.set_leads(bot_id, leads, count=count)

    def add_bot(
        self, bot_id: str, count: int | None = None, leads: Sequence[Any] | None = None
    ) -> None:
        """A new bot, with `count` seeded leads (default 0) or the given `leads`."""
        self.service.store.add_bot(bot_id, count=count, leads=leads)

    def chats(
        self,
        bot_id: str,
        session_ids: Sequence[str] | None = None,
        k: int = DEFAULT_RECENT_SESSIONS,
    ) -> list[Any]:
        """What the chats API serves for these sessions now (without ids: the `k` most recent
        sessions, as for a `[]` body), as dicts."""
        return self.service.store.chats(bot_id, session_ids, k)

    def append_message(
        self,
        bot_id: str,
        session_id: str,
        *,
        content: str | None = None,
        type: str = "human",
        raw: Mapping[str, Any] | None = None,
    ) -> Any:
        """Add a message to a session of the bot's leads, created after every message the bot
        has (so an incremental sync must pick it up); `content` None draws a seeded text of the
        type. `raw` is served verbatim instead. Returns the message."""
        return self.service.store.append_message(
            bot_id, session_id, content=content, type=type, raw=raw
        )

    def send_message(self, bot_id: str, message: str, session_id: str | None = None) -> Exchange:
        """An end user chats: `message` and the agent's reply join the session (a new one without
        `session_id`), exactly as `POST /v1/{bot_id}` records them, but without a key, faults or
        a journal entry. `.response()` of the result is what Send Message would have answered."""
        return self.service.send(bot_id, message, session_id)

    def inject(self, rule: FaultRule | str) -> InjectedFault:
        """Add a fault rule (or its CLI spec, e.g. `"429:retry_after=2:times=3"`) after the
        existing ones."""
        return InjectedFault(
            self.service.faults, parse_fault(rule) if isinstance(rule, str) else rule
        )

    def clear_faults(self) -> None:
        self.service.faults.clear()

    def journal(self) -> list[dict[str, Any]]:
        """The API requests served so far (no credentials in it)."""
        return self.service.journal.entries()

    def reset(self) -> None:
        """Back to the configured bots, leads, chats and faults; empty journal."""
        self.service.reset()


def _wait_for(ready: Callable[[], bool], thread: threading.Thread, timeout: float) -> None:
    deadline = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if ready():
            return
        if not thread.is_alive():
            raise RuntimeError("mock server failed to start; see the log above")
        deadline.wait(0.01)
    raise TimeoutError(f"mock server did not start within {timeout} s")
