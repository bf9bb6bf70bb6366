"""MockServer: lifecycle on a free loopback port, and the Python API that mirrors the admin one."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from datetime import datetime

import httpx
import pytest

from mock_server import faults
from mock_server import server as server_module
from mock_server.config import MockConfig
from mock_server.server import MockServer

from .conftest import admin, bearer, fetch, leads_url


def test_serves_on_a_free_loopback_port_and_stops_cleanly() -> None:
    threads_before = set(threading.enumerate())
    with MockServer() as server:
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        assert server.root_url + "/v1" == server.base_url
        port = int(server.root_url.rsplit(":", 1)[1])
        assert fetch(server, "bot-alpha").status_code == 200
    assert set(threading.enumerate()) == threads_before
    with (
        pytest.raises(ConnectionRefusedError, match="refused"),
        socket.create_connection(("127.0.0.1", port), timeout=1),
    ):
        pass


def test_two_servers_run_side_by_side_with_their_own_state() -> None:
    with MockServer(leads_per_bot=1) as one, MockServer(leads_per_bot=2) as two:
        assert one.base_url != two.base_url
        one.append("bot-alpha", count=5)
        assert len(fetch(one, "bot-alpha").json()) == 6
        assert len(fetch(two, "bot-alpha").json()) == 2


def test_overrides_and_api_key() -> None:
    server = MockServer(MockConfig(api_keys={"k1": None, "k2": None}), leads_per_bot=3)
    assert server.api_key == "k1" and server.config.leads_per_bot == 3


def test_stop_is_idempotent_and_start_twice_is_an_error() -> None:
    server = MockServer().start()
    with pytest.raises(RuntimeError, match="already running"):
        server.start()
    server.stop()
    server.stop()


def test_a_failed_start_releases_its_socket_and_can_be_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The port is taken (fails at bind), then the server thread exits without serving (fails
    after the socket and thread exist): each time nothing is left open, and a retry works."""
    sockets: list[socket.socket] = []
    real_bind = socket.socket.bind
    monkeypatch.setattr(socket.socket, "bind", lambda s, a: sockets.append(s) or real_bind(s, a))
    blocker = socket.socket()
    real_bind(blocker, ("127.0.0.1", 0))
    blocker.listen()
    threads_before = set(threading.enumerate())
    server = MockServer(port=blocker.getsockname()[1], leads_per_bot=1)
    with pytest.raises(OSError, match="in use"):
        server.start()
    blocker.close()
    with monkeypatch.context() as patch:
        patch.setattr(server_module.uvicorn.Server, "serve", lambda self, sockets: asyncio.sleep(0))
        with pytest.raises(RuntimeError, match="failed to start"):
            server.start()
    assert len(sockets) == 2 and all(s.fileno() == -1 for s in sockets)
    assert set(threading.enumerate()) == threads_before
    with server:
        assert fetch(server, "bot-alpha").status_code == 200


def test_keep_alive_responses_do_not_wait_for_a_delayed_ack() -> None:
    """With TCP_NODELAY 50 requests on one connection take ~50 ms; without it, ~2 s (each
    response waits ~40 ms for the client's delayed ACK)."""
    with (
        MockServer(leads_per_bot=1) as server,
        httpx.Client(headers=bearer(server.api_key)) as client,
    ):
        url = leads_url(server, "bot-alpha")
        client.post(url)  # connected
        started = time.perf_counter()
        for _ in range(50):
            assert client.post(url).status_code == 200
        assert time.perf_counter() - started < 1.0


def test_a_drop_is_not_logged_as_a_server_error() -> None:
    """The `drop` fault's unfinished response is on purpose: uvicorn must not report it."""
    logged: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = logged.append  # type: ignore[method-assign]
    with MockServer(faults=[faults.drop()], leads_per_bot=1) as server:
        logging.getLogger("uvicorn.error").addHandler(handler)  # after uvicorn's logging setup
        try:
            with pytest.raises(httpx.RemoteProtocolError):
                fetch(server, "bot-alpha")
        finally:
            logging.getLogger("uvicorn.error").removeHandler(handler)
    assert [r.getMessage() for r in logged if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"host": "0.0.0.0"}, "admin_token"), ({"host": "::", "admin_token": ""}, "admin_token")],
)
def test_refuses_a_non_loopback_host_without_an_admin_token(
    overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        MockServer(**overrides)  # type: ignore[arg-type]


class TestPythonApi:
    def test_append_returns_the_new_leads_which_are_served_last(self, server: MockServer) -> None:
        added = server.append("bot-alpha", count=3)
        served = fetch(server, "bot-alpha").json()
        assert served[-3:] == added and len(served) == 23
        newest = max(datetime.fromisoformat(x["created_at"]) for x in served[:-3])
        assert all(datetime.fromisoformat(x["created_at"]) > newest for x in added)

    def test_raw_leads_are_served_verbatim(self, server: MockServer) -> None:
        raw = [{"session_id": "broken"}]  # no created_at: for testing a client's error path
        assert server.append("bot-beta", leads=raw) == raw
        assert fetch(server, "bot-beta").json()[-1] == {"session_id": "broken"}

    def test_set_leads_add_bot_and_leads(self, server: MockServer) -> None:
        server.set_leads("bot-alpha", [])
        assert fetch(server, "bot-alpha").json() == [] == server.leads("bot-alpha")
        server.add_bot("gamma", count=2)
        assert fetch(server, "gamma").json() == server.leads("gamma")
        server.add_bot("delta", leads=[{"session_id": "d", "created_at": "2024-01-01T00:00:00Z"}])
        assert len(fetch(server, "delta").json()) == 1

    def test_chats_and_append_message_mirror_the_chats_endpoint(self, server: MockServer) -> None:
        ids = [lead["session_id"] for lead in server.leads("bot-beta")]
        added = server.append_message("bot-beta", ids[0], content="hi", type="human")
        served = httpx.post(
            f"{server.base_url}/get-chats/bot-beta",
            headers={"Authorization": f"Bearer {server.api_key}"},
            json=ids,
        ).json()
        assert served == server.chats("bot-beta", ids) and added in served
        assert server.chats("bot-beta", k=2) == server.chats("bot-beta", ids[-2:])
        assert server.journal()[-1]["path"] == "/v1/get-chats/bot-beta"

    def test_inject_returns_a_removable_handle(self, server: MockServer) -> None:
        handle = server.inject(faults.status(503))
        assert fetch(server, "bot-alpha").status_code == 503
        assert handle.remove()
        assert fetch(server, "bot-alpha").status_code == 200
        with server.inject("502"):
            assert fetch(server, "bot-alpha").status_code == 502
        assert fetch(server, "bot-alpha").status_code == 200
        server.inject("html")
        server.clear_faults()
        assert fetch(server, "bot-alpha").status_code == 200

    def test_admin_and_python_change_one_service(self, server: MockServer) -> None:
        """The admin API and MockServer call the same MockService methods: what one does, the
        other sees (a zero Retry-After included)."""
        created = admin(server, "POST", "/faults", json={"spec": "429:retry_after=0"}).json()
        assert server.fault_rules() == [created | {"remaining": None}]
        assert (
            created["retry_after"] == 0 and fetch(server, "bot-alpha").headers["retry-after"] == "0"
        )
        assert server.remove_fault(created["id"]) and admin(server, "GET", "/faults").json() == {
            "faults": []
        }
        server.add_bot("gamma", count=2)
        assert server.bots() == {"bot-alpha": 20, "bot-beta": 20, "gamma": 2}
        assert admin(server, "GET", "/bots").json()["bots"][-1] == {"bot_id": "gamma", "leads": 2}
        with pytest.raises(ValueError, match="exactly one of count or leads"):
            server.append("gamma", count=1, leads=[])
        server.clear_journal()
        assert admin(server, "GET", "/journal").json() == {"entries": []}

    def test_reset_and_journal(self, server: MockServer) -> None:
        server.append("bot-alpha", count=1)
        fetch(server, "bot-alpha")
        assert len(server.journal()) == 1
        server.reset()
        assert server.journal() == [] and len(server.leads("bot-alpha")) == 20

    def test_a_test_thread_can_change_data_while_requests_run(self, server: MockServer) -> None:
        errors: list[Exception] = []

        def reader() -> None:
            try:
                with httpx.Client() as client:
                    for _ in range(20):
                        url = f"{server.base_url}/get-conversation-ids/bot-alpha"
                        response = client.post(
                            url, headers={"Authorization": f"Bearer {server.api_key}"}
                        )
                        assert response.status_code == 200 and len(response.json()) >= 20
            except Exception as exc:
                errors.append(exc)

        thread = threading.Thread(target=reader)
        thread.start()
        for _ in range(20):
            server.append("bot-alpha", count=1)
        thread.join()
        assert errors == [] and len(server.leads("bot-alpha")) == 40
