"""The ASGI app over real HTTP: routes from the spec, auth, strictness, Prefer, validation of every
response against the spec, streaming, admin endpoints and the journal."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import orjson
import pytest

import chatnode_spec
from mock_server import auth, service
from mock_server.app import MAX_BODY_BYTES, create_app
from mock_server.config import MockConfig
from mock_server.responses import PIECE_BYTES, MockResponse
from mock_server.server import MockServer

from .conftest import admin, assert_matches_spec, bearer, fetch, leads_url

OPERATION = chatnode_spec.operation_at("/get-conversation-ids/{bot_id}")
UNAUTHORIZED = {"message": chatnode_spec.documented_error_message(OPERATION, 401)}
FORBIDDEN = {"message": chatnode_spec.documented_error_message(OPERATION, 403)}


def test_the_app_reads_header_names_in_any_case() -> None:
    """ASGI servers should lower-case header names but need not (uvicorn does, so this calls the
    app directly): a server that keeps `Authorization` as sent still gets a 200."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/get-conversation-ids/bot-alpha",
        "headers": [(b"Authorization", b"Bearer mock-secret-key")],
        "query_string": b"",
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(create_app(MockConfig(leads_per_bot=1))(scope, receive, send))
    assert sent[0]["status"] == 200 and len(orjson.loads(sent[1]["body"])) == 1


class TestAuth:
    def test_valid_key_gets_every_lead_and_the_response_matches_the_spec(
        self, server: MockServer
    ) -> None:
        response = fetch(server, "bot-alpha")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == server.leads("bot-alpha") and len(response.json()) == 20
        assert_matches_spec(response)

    @pytest.mark.parametrize(
        "headers",
        [{}, bearer("wrong-key"), {"Authorization": "Basic bW9jaw=="}, {"Authorization": "Bearer"}],
    )
    def test_missing_or_unknown_bearer_is_401_with_the_spec_body(
        self, server: MockServer, headers: dict[str, str]
    ) -> None:
        response = httpx.post(leads_url(server, "bot-alpha"), headers=headers)
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED == {"message": "Bearer token missing or unknown"}
        assert_matches_spec(response)

    def test_unknown_bot_is_403(self, server: MockServer) -> None:
        response = fetch(server, "no-such-bot")
        assert response.status_code == 403
        assert response.json() == FORBIDDEN == {"message": "Bot access not allowed"}
        assert_matches_spec(response)

    def test_key_limited_to_some_bots(self) -> None:
        config = MockConfig(api_keys={"full": None, "partner": ["bot-alpha"]}, leads_per_bot=2)
        with MockServer(config) as server:
            assert fetch(server, "bot-alpha", key="partner").status_code == 200
            denied = fetch(server, "bot-beta", key="partner")
            assert denied.status_code == 403 and denied.json() == FORBIDDEN
            assert fetch(server, "bot-beta", key="full").status_code == 200


class TestStrictness:
    def test_wrong_method_is_405_with_allow(self, server: MockServer) -> None:
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            response = httpx.request(method, leads_url(server, "bot-alpha"))
            assert response.status_code == 405
            assert response.headers["allow"] == "POST"
            assert response.json()["error"] == "method_not_allowed"

    @pytest.mark.parametrize(
        "path",
        ["/v1/no/such/path", "/get-conversation-ids/bot-alpha", "/v1/get-conversation-ids/", "/"],
    )
    def test_unknown_path_is_404_in_the_generic_shape(self, server: MockServer, path: str) -> None:
        response = httpx.post(server.root_url + path, headers=bearer(server.api_key))
        assert response.status_code == 404
        body = response.json()
        assert set(body) == {"message", "error"} and body["error"] == "not_found"
        assert "/v1/get-conversation-ids/{bot_id}" in body["message"]

    @pytest.mark.parametrize(
        ("path", "query", "named"),
        [
            ("get-conversation-ids", "k=3", "'k'"),
            ("get-chats", "=&%C2%95=x", "'', '\\x95'"),
            ("get-chats", "k=3&limit=5", "'limit'"),
        ],
    )
    def test_a_query_parameter_the_spec_does_not_declare_is_400(
        self, server: MockServer, path: str, query: str, named: str
    ) -> None:
        url = f"{server.base_url}/{path}/bot-alpha?{query}"
        response = httpx.post(url, headers=bearer(server.api_key))
        assert response.status_code == 400
        body = response.json()
        assert body["error"] == "unknown_parameter"
        assert f"has no query parameter {named};" in body["message"]

    def test_the_declared_k_is_accepted(self, server: MockServer) -> None:
        url = f"{server.base_url}/get-chats/bot-alpha?k=2"
        assert httpx.post(url, headers=bearer(server.api_key)).status_code == 200

    @pytest.mark.parametrize("content", [b'{"a":', b"{}", b"not json at all", b"[]"])
    def test_a_body_is_rejected_quickly_even_when_malformed(
        self, server: MockServer, content: bytes
    ) -> None:
        response = httpx.post(
            leads_url(server, "bot-alpha"),
            headers=bearer(server.api_key) | {"content-type": "application/json"},
            content=content,
            timeout=5,
        )
        assert response.status_code == 400
        assert response.json()["error"] == "unexpected_body"

    def test_an_empty_body_with_json_content_type_is_fine(self, server: MockServer) -> None:
        headers = {"content-type": "application/json", "content-length": "0"}
        assert fetch(server, "bot-alpha", headers=headers).status_code == 200

    def test_oversized_body_is_413_without_reading_it_all(self, server: MockServer) -> None:
        response = fetch(server, "bot-alpha", content=b"x" * (MAX_BODY_BYTES + 10))
        assert response.status_code == 413

    def test_body_allowed_by_choice(self) -> None:
        with MockServer(allow_request_body=True, leads_per_bot=1) as server:
            assert fetch(server, "bot-alpha", content=b'{"a":').status_code == 200


class TestPrefer:
    @pytest.mark.parametrize(("code", "body"), [(401, UNAUTHORIZED), (403, FORBIDDEN)])
    def test_documented_codes_answer_with_the_spec_example(
        self, server: MockServer, code: int, body: dict
    ) -> None:
        response = fetch(server, "bot-alpha", headers={"Prefer": f"code={code}"})
        assert response.status_code == code and response.json() == body
        assert_matches_spec(response)

    def test_code_200_is_the_normal_answer(self, server: MockServer) -> None:
        response = fetch(server, "bot-alpha", headers={"Prefer": "code=200"})
        assert response.status_code == 200 and len(response.json()) == 20

    def test_undocumented_code_gets_the_generic_shape(self, server: MockServer) -> None:
        response = fetch(server, "bot-alpha", headers={"Prefer": "example=x, code=503"})
        assert response.status_code == 503
        assert set(response.json()) == {"message", "error"}

    def test_nonsense_code_is_400(self, server: MockServer) -> None:
        assert fetch(server, "bot-alpha", headers={"Prefer": "code=abc"}).status_code == 400

    def test_prefer_is_journaled(self, server: MockServer) -> None:
        fetch(server, "bot-alpha", headers={"Prefer": "code=403"})
        assert server.journal()[-1]["prefer"] == 403


class TestResponseValidationMode:
    def test_documented_responses_pass_the_servers_own_check(self) -> None:
        with MockServer(validate_responses=True, leads_per_bot=50) as server:
            assert fetch(server, "bot-alpha").status_code == 200
            assert fetch(server, "bot-alpha", key="bad").status_code == 401
            assert fetch(server, "nope").status_code == 403

    def test_a_spec_violation_becomes_a_500_naming_it(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        broken = MockResponse(200, b'[{"session_id":"x"}]', conforming=True)
        monkeypatch.setattr(service, "json_array_response", lambda elements, conforming: broken)
        with MockServer(validate_responses=True, leads_per_bot=1) as server:
            response = fetch(server, "bot-alpha")
        assert response.status_code == 500
        assert response.json()["error"] == "invalid_response"
        assert "created_at" in response.json()["message"]

    def test_deliberately_broken_data_is_not_checked(self) -> None:
        with MockServer(validate_responses=True, leads_per_bot=1) as server:
            server.set_leads("bot-alpha", [{"session_id": "x"}])  # raw leads: served verbatim
            assert fetch(server, "bot-alpha").status_code == 200
        with MockServer(validate_responses=True, leads_per_bot=5, quirks=True) as server:
            assert fetch(server, "bot-alpha").status_code == 200


class TestStreaming:
    def test_a_large_body_streams_and_parses_to_the_right_count(self) -> None:
        with MockServer(leads_per_bot=0) as server:
            server.set_leads("bot-alpha", count=200_000)
            with httpx.stream(
                "POST", leads_url(server, "bot-alpha"), headers=bearer(server.api_key)
            ) as response:
                assert response.status_code == 200
                assert "content-length" not in response.headers  # chunked, not built in memory
                body = response.read()
            leads = orjson.loads(body)
            assert len(leads) == 200_000
            assert len({lead["session_id"] for lead in leads}) == 200_000

    def test_small_bodies_come_whole_with_a_length(self, server: MockServer) -> None:
        server.set_leads("bot-alpha", count=200)
        response = fetch(server, "bot-alpha")
        assert int(response.headers["content-length"]) == len(response.content) < PIECE_BYTES

    def test_small_requests_are_answered_while_a_big_body_streams(self) -> None:
        async def scenario(server: MockServer) -> int:
            async with httpx.AsyncClient(headers=bearer(server.api_key), timeout=60) as client:
                big = asyncio.create_task(client.post(leads_url(server, "big")))
                await asyncio.sleep(0.2)  # the big body is on the wire by now
                overlapped = 0
                while not big.done():
                    small = await client.post(leads_url(server, "small"))
                    assert small.status_code == 200 and len(small.json()) == 3
                    overlapped += not big.done()
                assert len((await big).content) > 10_000_000
                return overlapped

        with MockServer(leads_per_bot=0, bots=()) as server:
            server.add_bot("big", count=300_000)
            server.add_bot("small", count=3)
            overlapped = asyncio.run(scenario(server))
        assert overlapped >= 5, "too few small requests were answered during the big body"


class TestAdmin:
    def test_health(self, server: MockServer) -> None:
        response = admin(server, "GET", "/health")
        assert response.json() == {"status": "ok", "bots": ["bot-alpha", "bot-beta"]}

    def test_append_count_and_raw_leads(self, server: MockServer) -> None:
        appended = admin(server, "POST", "/bots/bot-alpha/leads", json={"count": 3}).json()
        assert len(appended["appended"]) == 3 and appended["total"] == 23
        raw = [{"session_id": "raw-1", "created_at": "2030-01-01T00:00:00Z"}]
        assert (
            admin(server, "POST", "/bots/bot-alpha/leads", json={"leads": raw}).json()["total"]
            == 24
        )
        served = fetch(server, "bot-alpha").json()
        assert served[-4:] == appended["appended"] + raw
        assert admin(server, "GET", "/bots/bot-alpha/leads").json() == served

    def test_add_bot_set_leads_and_conflicts(self, server: MockServer) -> None:
        assert (
            admin(server, "POST", "/bots", json={"bot_id": "new-bot", "count": 4}).status_code
            == 201
        )
        assert len(fetch(server, "new-bot").json()) == 4
        conflict = admin(server, "POST", "/bots", json={"bot_id": "new-bot"})
        assert conflict.status_code == 409 and conflict.json()["error"] == "conflict"
        put = admin(server, "PUT", "/bots/new-bot/leads", json={"leads": []})
        assert put.json()["total"] == 0 and fetch(server, "new-bot").json() == []
        assert {"bot_id": "new-bot", "leads": 0} in admin(server, "GET", "/bots").json()["bots"]

    @pytest.mark.parametrize(
        ("method", "path", "payload", "status"),
        [
            ("POST", "/bots/bot-alpha/leads", {"count": -1}, 400),
            ("POST", "/bots/bot-alpha/leads", {"count": 1, "leads": []}, 400),
            ("POST", "/bots/ghost/leads", {"count": 1}, 404),
            ("POST", "/bots", {"count": 1}, 400),
            ("POST", "/bots", {"bot_id": "x", "colour": "red"}, 400),
            ("POST", "/bots/bot-alpha/messages", {"message": 5}, 400),
            ("POST", "/faults", {"kind": "status", "status": 429, "retry_after": "soon"}, 400),
            ("POST", "/faults", {"spec": "teapot"}, 400),
            ("POST", "/faults", [{"spec": "drop"}], 400),
            ("PUT", "/bots/bot-alpha/leads", [], 400),
            ("DELETE", "/faults/999", None, 404),
            ("DELETE", "/faults/abc", None, 404),
            ("GET", "/nope", None, 404),
        ],
    )
    def test_bad_admin_requests_use_the_generic_error_shape(
        self, server: MockServer, method: str, path: str, payload: object, status: int
    ) -> None:
        response = admin(server, method, path, json=payload)
        assert response.status_code == status and set(response.json()) == {"message", "error"}

    def test_wrong_admin_method_is_405_with_allow(self, server: MockServer) -> None:
        response = admin(server, "PATCH", "/bots/bot-alpha/leads")
        assert response.status_code == 405 and response.headers["allow"] == "GET, POST, PUT"
        assert response.json()["error"] == "method_not_allowed"

    def test_malformed_admin_json_is_400(self, server: MockServer) -> None:
        assert admin(server, "POST", "/bots/bot-alpha/leads", content=b"{").status_code == 400

    def test_oversized_admin_body_is_413(self, server: MockServer) -> None:
        huge = b'{"leads": [' + b"1," * (MAX_BODY_BYTES // 2) + b"1]}"
        response = admin(server, "POST", "/bots/bot-alpha/leads", content=huge)
        assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
        assert len(server.leads("bot-alpha")) == 20

    def test_faults_set_list_and_clear(self, server: MockServer) -> None:
        created = admin(
            server, "POST", "/faults", json={"spec": "429:retry_after=1:times=2"}
        ).json()
        admin(server, "POST", "/faults", json={"kind": "html", "bot": "bot-beta"})
        listed = admin(server, "GET", "/faults").json()["faults"]
        assert [f["kind"] for f in listed] == ["status", "html"] and listed[0]["remaining"] == 2
        assert fetch(server, "bot-alpha").status_code == 429
        removed = admin(server, "DELETE", f"/faults/{created['id']}")
        assert removed.status_code == 200 and removed.json() == {"removed": str(created["id"])}
        assert fetch(server, "bot-alpha").status_code == 200
        assert admin(server, "DELETE", "/faults").json() == {"faults": []}
        assert admin(server, "GET", "/faults").json() == {"faults": []}

    def test_reset_restores_the_configuration(self, server: MockServer) -> None:
        server.append("bot-alpha", count=5)
        server.add_bot("extra")
        server.inject("503")
        reset = admin(server, "POST", "/reset")
        assert reset.status_code == 200
        assert reset.json() == {"status": "reset", "bots": ["bot-alpha", "bot-beta"]}
        assert len(fetch(server, "bot-alpha").json()) == 20
        assert fetch(server, "extra").status_code == 403

    def test_admin_is_open_on_loopback_without_a_token_and_not_journaled(
        self, server: MockServer
    ) -> None:
        assert server.config.admin_token is None and server.admin_headers == {}
        assert httpx.get(f"{server.root_url}/_admin/bots").status_code == 200
        admin(server, "GET", "/nope")
        assert server.journal() == []


class TestAdminToken:
    @pytest.fixture(scope="class")
    def locked(self) -> Iterator[MockServer]:
        with MockServer(admin_token="admin-s3cret", leads_per_bot=1) as server:
            yield server

    @pytest.mark.parametrize(
        "headers",
        [{}, bearer("wrong"), bearer("admin-s3cre"), bearer("admin-s3crets"), bearer("mock-secret-key"),
         {"Authorization": "Basic admin-s3cret"}],
    )  # fmt: skip
    @pytest.mark.parametrize(
        ("method", "path"), [("GET", "/health"), ("POST", "/reset"), ("GET", "/nope"), ("PATCH", "/bots")]
    )  # fmt: skip
    def test_every_admin_call_without_the_token_is_401(
        self, locked: MockServer, headers: dict[str, str], method: str, path: str
    ) -> None:
        response = httpx.request(method, f"{locked.root_url}/_admin{path}", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized" and set(response.json()) == {
            "message",
            "error",
        }
        assert "admin-s3cret" not in response.text

    def test_the_token_opens_it(self, locked: MockServer) -> None:
        response = httpx.get(f"{locked.root_url}/_admin/health", headers=bearer("admin-s3cret"))
        assert response.status_code == 200 and response.json()["status"] == "ok"
        assert locked.admin_headers == {"Authorization": "Bearer admin-s3cret"}

    def test_the_api_still_takes_api_keys_not_the_admin_token(self, locked: MockServer) -> None:
        assert fetch(locked, "bot-alpha").status_code == 200
        assert fetch(locked, "bot-alpha", key="admin-s3cret").status_code == 401

    def test_the_token_is_compared_in_constant_time(
        self, locked: MockServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[tuple[bytes, bytes]] = []

        def spy(a: bytes, b: bytes) -> bool:
            calls.append((a, b))
            return a == b

        monkeypatch.setattr(auth.hmac, "compare_digest", spy)
        assert admin(locked, "GET", "/health").status_code == 200
        assert httpx.get(f"{locked.root_url}/_admin/health", headers=bearer("x")).status_code == 401
        assert calls == [(b"admin-s3cret", b"admin-s3cret"), (b"x", b"admin-s3cret")]


class TestJournal:
    def test_records_each_api_request_without_the_key(self, server: MockServer) -> None:
        secret = server.api_key
        fetch(server, "bot-alpha")
        fetch(server, "bot-beta", key="wrong-key-value")
        httpx.get(leads_url(server, "bot-alpha"), headers=bearer(secret))
        entries = admin(server, "GET", "/journal").json()["entries"]
        assert [(e["method"], e["bot"], e["status"], e["auth"]) for e in entries] == [
            ("POST", "bot-alpha", 200, "ok"),
            ("POST", "bot-beta", 401, "unknown"),
            ("GET", None, 405, "n/a"),
        ]
        assert entries[0]["path"] == "/v1/get-conversation-ids/bot-alpha"
        text = orjson.dumps(entries).decode()
        assert secret not in text and "wrong-key-value" not in text and "Bearer" not in text
        assert admin(server, "DELETE", "/journal").json() == {"entries": []}
