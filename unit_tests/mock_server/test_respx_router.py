"""The respx router: the same answers as the live server, in-process, for httpx clients."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
import respx

from mock_server import faults
from mock_server.config import MockConfig
from mock_server.respx_router import chatnode_respx_router
from mock_server.server import MockServer
from mock_server.service import MockService

BASE = "https://api.public.chatnode.ai/v1"
KEY = {"Authorization": "Bearer mock-secret-key"}


def test_serves_the_seeded_leads_at_the_real_base_url() -> None:
    with chatnode_respx_router(MockConfig(leads_per_bot=7)), httpx.Client(base_url=BASE) as client:
        response = client.post("/get-conversation-ids/bot-alpha", headers=KEY)
        assert response.status_code == 200 and len(response.json()) == 7


def test_answers_exactly_like_the_live_server() -> None:
    config = MockConfig(leads_per_bot=4, api_keys={"k": None, "p": ["bot-beta"]})
    cases = [
        ("POST", "/get-conversation-ids/bot-alpha", {"Authorization": "Bearer k"}),
        ("POST", "/get-conversation-ids/bot-alpha", {"Authorization": "Bearer p"}),
        ("POST", "/get-conversation-ids/bot-alpha", {}),
        ("POST", "/get-conversation-ids/ghost", {"Authorization": "Bearer k"}),
        ("GET", "/get-conversation-ids/bot-alpha", {"Authorization": "Bearer k"}),
        ("DELETE", "/get-conversation-ids/ghost", {}),
        ("PROPFIND", "/get-conversation-ids/bot-alpha", {}),
        ("POST", "/elsewhere", {"Authorization": "Bearer k"}),
        ("GET", "/", {}),
        ("POST", "/get-conversation-ids/", {"Authorization": "Bearer k"}),
        ("POST", "/get-conversation-ids/bot-alpha/more", {"Authorization": "Bearer k"}),
        ("POST", "/get-conversation-ids/new%0Aline", {"Authorization": "Bearer k"}),
        ("POST", "/get-conversation-ids/bot-beta", {"Authorization": "Bearer k", "Prefer": "code=403"}),
    ]  # fmt: skip
    with MockServer(config) as live:
        real = [httpx.request(m, live.base_url + path, headers=h) for m, path, h in cases]
        real_journal = live.journal()
    router = chatnode_respx_router(config, base_url=BASE)
    with router:
        mocked = [httpx.request(m, BASE + path, headers=h) for m, path, h in cases]
    for (_, path, _), want, got in zip(cases, real, mocked, strict=True):
        assert (got.status_code, got.content) == (want.status_code, want.content), path
        assert got.headers.get("allow") == want.headers.get("allow")
        assert got.headers.get("content-type") == want.headers.get("content-type")
    assert {r.status_code for r in real} >= {200, 401, 403, 404, 405}

    def untimed(entries: list[dict]) -> list[dict]:
        return [{k: v for k, v in e.items() if k != "timestamp"} for e in entries]

    assert untimed(router.chatnode.journal()) == untimed(real_journal)  # type: ignore[attr-defined]


def test_chats_answer_exactly_like_the_live_server() -> None:
    config = MockConfig(leads_per_bot=6, api_keys={"k": None}, quirks=True)
    ids = [lead["session_id"] for lead in MockService(config).leads("bot-alpha")]
    auth = {"Authorization": "Bearer k", "content-type": "application/json"}
    cases = [
        ("/get-chats/bot-alpha", "", orjson.dumps(ids), auth),
        ("/get-chats/bot-alpha", "k=2", b"[]", auth),
        ("/get-chats/bot-alpha", "", b"", auth),
        ("/get-chats/bot-alpha", "", b'["nope"]', auth),
        ("/get-chats/bot-alpha", "", b"{}", auth),
        ("/get-chats/bot-alpha", "k=x", b"[]", auth),
        ("/get-chats/bot-alpha", "", b"[]", {}),
        ("/get-chats/ghost", "", b"[]", auth),
    ]
    with MockServer(config) as live:
        live.inject("503:route=chats:times=1")
        real = [
            httpx.post(f"{live.base_url}{path}?{query}", content=body, headers=headers)
            for path, query, body, headers in cases
        ]
    router = chatnode_respx_router(config, base_url=BASE)
    router.chatnode.faults.add(faults.parse_fault("503:route=chats:times=1"))  # type: ignore[attr-defined]
    with router:
        mocked = [
            httpx.post(f"{BASE}{path}?{query}", content=body, headers=headers)
            for path, query, body, headers in cases
        ]
    assert [r.status_code for r in real] == [503, 200, 200, 200, 400, 400, 401, 403]
    for want, got in zip(real, mocked, strict=True):
        assert (got.status_code, got.content) == (want.status_code, want.content)
    assert len(real[2].json()) > 0


def test_faults_and_journal_through_the_service() -> None:
    router = chatnode_respx_router(MockConfig(leads_per_bot=2), sleep=None)
    service = router.chatnode  # type: ignore[attr-defined]
    with router:
        service.faults.add(faults.status(429, retry_after=1, times=1))
        service.faults.add(faults.drop(bot="bot-beta"))
        first = httpx.post(f"{BASE}/get-conversation-ids/bot-alpha", headers=KEY)
        assert first.status_code == 429 and first.headers["retry-after"] == "1"
        assert httpx.post(f"{BASE}/get-conversation-ids/bot-alpha", headers=KEY).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError, match="drop fault"):
            httpx.post(f"{BASE}/get-conversation-ids/bot-beta", headers=KEY)
    assert [e["status"] for e in service.journal()] == [429, 200, 200]


def test_other_hosts_are_not_mocked() -> None:
    with (
        chatnode_respx_router(),
        pytest.raises(respx.models.AllMockedAssertionError, match="not mocked"),
    ):
        httpx.get("https://example.com/")


def test_custom_base_url_and_async_client() -> None:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(base_url="http://chatnode.test/api/v1") as client:
            return await client.post("/get-conversation-ids/bot-beta", headers=KEY)

    with chatnode_respx_router(base_url="http://chatnode.test/api/v1"):
        response = asyncio.run(go())
    assert response.status_code == 200 and len(response.json()) == 100


def test_send_message_and_auth_me_answer_exactly_like_the_live_server() -> None:
    config = MockConfig(leads_per_bot=2, seed=3)
    cases = [
        ("GET", "/auth_me", None),
        ("POST", "/bot-alpha", {"message": "Is there a free trial?"}),
        ("POST", "/bot-alpha", {"message": "ok", "chat_session_id": "s-1"}),
        ("POST", "/bot-alpha", {"message": "hi", "streaming": True}),
        ("POST", "/auth_me", {"message": "hi"}),
        ("POST", "/get-chats/bot-alpha", ["s-1"]),
    ]

    def run(client: httpx.Client) -> list[tuple[int, bytes]]:
        answers = []
        for method, path, body in cases:
            response = client.request(method, path, json=body)
            answers.append((response.status_code, response.content))
        return answers

    with MockServer(config) as live, httpx.Client(base_url=live.base_url, headers=KEY) as client:
        real = run(client)
    with chatnode_respx_router(config), httpx.Client(base_url=BASE, headers=KEY) as client:
        mocked = run(client)
    assert mocked == real
    assert [status for status, _ in real] == [200, 200, 200, 400, 405, 200]
    assert len(orjson.loads(real[-1][1])) == 2
