"""`MockServer`: the mock on a free 127.0.0.1 port in a background thread, for tests and scripts
(docs/sandbox.md shows it in use). It is a `MockService`, so its control methods (append, inject,
journal, ...) are the service's.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from dataclasses import replace
from typing import Any

import uvicorn

import chatnode_spec
from mock_server.app import create_app
from mock_server.config import MockConfig
from mock_server.service import MockService


def _not_a_drop(record: logging.LogRecord) -> bool:
    """The `drop` fault leaves its response unfinished on purpose; that is not a server error."""
    return record.getMessage() != "ASGI callable returned without completing response."


class MockServer(MockService):
    """The mock API served by uvicorn in a daemon thread; a context manager. Being the service,
    it needs no admin token for its control methods."""

    def __init__(self, config: MockConfig | None = None, **overrides: Any) -> None:
        super().__init__(replace(config or MockConfig(), **overrides))
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.root_url = ""
        """`http://127.0.0.1:PORT`, where `/_admin/` lives."""
        self.base_url = ""
        """`http://127.0.0.1:PORT/v1`, what a ChatNode client takes as its base URL."""

    @property
    def api_key(self) -> str:
        """The first configured API key, for a test that does not care which (with the default
        config it reads every bot)."""
        return next(iter(self.config.api_keys))

    @property
    def admin_headers(self) -> dict[str, str]:
        """The headers a `/_admin/` call over HTTP needs: the admin token, when one is set."""
        token = self.config.admin_token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def start(self, timeout: float = 10.0) -> MockServer:
        """Bind, serve, and return once the server accepts connections; on failure the socket and
        thread are released first, so `start` may be called again."""
        if self._thread is not None:
            raise RuntimeError("MockServer is already running")
        host, port = self.config.host, self.config.port
        try:
            # proto must say TCP: asyncio only sets TCP_NODELAY on such sockets, and without it
            # every keep-alive response waits ~40 ms for a delayed ACK.
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((host, port))
            host, port = self._socket.getsockname()[:2]
            logging.getLogger("uvicorn.error").addFilter(_not_a_drop)  # adds it once
            config = uvicorn.Config(
                create_app(self.config, self),
                lifespan="off",
                access_log=False,
                log_level=self.config.log_level,
                timeout_graceful_shutdown=1.0,
            )
            server = self._server = uvicorn.Server(config)
            sockets = [self._socket]
            thread = threading.Thread(
                target=lambda: asyncio.run(server.serve(sockets=sockets)),
                name=f"chatnode-mock:{port}",
                daemon=True,
            )
            thread.start()
            self._thread = thread  # once started: stop() joins it
            for _ in range(int(timeout / 0.01)):
                if server.started:
                    break
                if not thread.is_alive():
                    raise RuntimeError("mock server failed to start; see the log above")
                time.sleep(0.01)
            else:
                raise TimeoutError(f"mock server did not start within {timeout} s")
        except BaseException:
            self.stop()
            raise
        self.root_url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self.base_url = self.root_url + chatnode_spec.server_base_path()
        return self

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
