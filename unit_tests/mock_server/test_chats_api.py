"""POST /v1/get-chats/{bot_id} over real HTTP: the sessions asked for, `[]` and `k`, strictness,
auth, Prefer, faults scoped per route, appended messages (Python and admin API), streaming."""

from __future__ import annotations

import tracemalloc

import httpx
import orjson
import pytest

import chatnode_spec
from mock_server import faults
from mock_server.config import DEFAULT_API_KEY, MockConfig
from mock_server.data import parse_ms
from mock_server.responses import PIECE_BYTES, MockRequest
from mock_server.server import MockServer
from mock_server.service import MockService
from mock_server.store import DEFAULT_RECENT_SESSIONS

from .conftest import (
    admin,
    assert_matches_spec,
    bearer,
    chats_url,
    fetch,
    fetch_chats,
    session_ids,
)

CHATS = chatnode_spec.operation_at("/get-chats/{bot_id}")
UNAUTHORIZED = {"message": chatnode_spec.documented_error_message(CHATS, 401)}
FORBIDDEN = {"message": chatnode_spec.documented_error_message(CHATS, 403)}


class TestSessions:
    def test_the_sessions_asked_for_answer_with_their_messages_as_the_spec_says(
        self, server: MockServer
    ) -> None:
        ids = session_ids(server, "bot-alpha")[:6]
        response = fetch_chats(server, "bot-alpha", ids)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == server.chats("bot-alpha", ids) and response.json()
        assert {m["session_id"] for m in response.json()} <= set(ids)
        assert_matches_spec(response)

    def test_unknown_and_other_bots_sessions_add_nothing(self, server: MockServer) -> None:
        mine = session_ids(server, "bot-alpha")[:3]
        theirs = session_ids(server, "bot-beta")[:3]
        response = fetch_chats(server, "bot-alpha", ["nope", *theirs, *mine, *mine])
        assert response.json() == server.chats("bot-alpha", mine)
        assert fetch_chats(server, "bot-alpha", ["nope", *theirs]).json() == []

    def test_an_empty_array_or_no_body_returns_the_most_recent_sessions(
        self, server: MockServer
    ) -> None:
        ids = session_ids(server, "bot-alpha")
        recent = server.chats("bot-alpha", ids[-DEFAULT_RECENT_SESSIONS:])
        assert fetch_chats(server, "bot-alpha", []).json() == recent
        assert fetch_chats(server, "bot-alpha", content=b"").json() == recent
        assert server.chats("bot-alpha") == recent

    def test_k_bounds_the_recent_sessions_and_is_ignored_when_ids_are_given(
        self, server: MockServer
    ) -> None:
        ids = session_ids(server, "bot-alpha")
        three = fetch_chats(server, "bot-alpha", [], params={"k": 3})
        assert three.json() == server.chats("bot-alpha", ids[-3:])
        assert fetch_chats(server, "bot-alpha", [], params={"k": 0}).json() == []
        everything = fetch_chats(server, "bot-alpha", [], params={"k": 1000}).json()
        assert {m["session_id"] for m in everything} <= set(ids)
        assert len(everything) == len(server.chats("bot-alpha", ids))
        asked = fetch_chats(server, "bot-alpha", ids[:2], params={"k": 1}).json()
        assert asked == server.chats("bot-alpha", ids[:2])


class TestStrictness:
    @pytest.mark.parametrize(
        "content", [b"{}", b'"s1"', b"[1]", b'["a", null]', b"null", b"[", b'{"session_ids": []}']
    )
    def test_a_body_that_is_not_a_json_array_of_strings_is_400(
        self, server: MockServer, content: bytes
    ) -> None:
        response = fetch_chats(
            server, "bot-alpha", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert set(response.json()) == {"message", "error"}
        assert response.json()["error"] == "invalid_body"

    def test_a_body_in_another_media_type_is_400(self, server: MockServer) -> None:
        response = fetch_chats(
            server, "bot-alpha", content=b'["a"]', headers={"content-type": "text/plain"}
        )
        assert response.status_code == 400 and response.json()["error"] == "invalid_body"

    @pytest.mark.parametrize("k", ["abc", "", "1.5"])
    def test_a_k_that_is_not_an_integer_is_400(self, server: MockServer, k: str) -> None:
        response = fetch_chats(server, "bot-alpha", [], params={"k": k})
        assert response.status_code == 400 and response.json()["error"] == "invalid_parameter"

    def test_wrong_method_is_405_with_allow(self, server: MockServer) -> None:
        response = httpx.get(chats_url(server, "bot-alpha"), headers=bearer(server.api_key))
        assert response.status_code == 405 and response.headers["allow"] == "POST"


class TestAuth:
    @pytest.mark.parametrize("headers", [{}, bearer("wrong-key"), {"Authorization": "Basic x"}])
    def test_missing_or_unknown_bearer_is_401_with_the_spec_body(
        self, server: MockServer, headers: dict[str, str]
    ) -> None:
        response = httpx.post(chats_url(server, "bot-alpha"), headers=headers, json=[])
        assert response.status_code == 401 and response.json() == UNAUTHORIZED
        assert_matches_spec(response)

    def test_an_unknown_bot_or_one_outside_the_keys_scope_is_403(self) -> None:
        config = MockConfig(api_keys={"full": None, "partner": ["bot-alpha"]}, leads_per_bot=3)
        with MockServer(config) as server:
            ids = session_ids(server, "bot-beta")
            assert fetch_chats(server, "bot-beta", ids, key="full").status_code == 200
            for bot, key in (("bot-beta", "partner"), ("ghost", "full")):
                response = fetch_chats(server, bot, ids, key=key)
                assert response.status_code == 403 and response.json() == FORBIDDEN
                assert_matches_spec(response)
            assert [e["auth"] for e in server.journal()] == ["ok", "forbidden", "forbidden"]

    @pytest.mark.parametrize(("code", "body"), [(401, UNAUTHORIZED), (403, FORBIDDEN)])
    def test_prefer_forces_the_documented_responses(
        self, server: MockServer, code: int, body: dict
    ) -> None:
        response = fetch_chats(server, "bot-alpha", [], headers={"Prefer": f"code={code}"})
        assert response.status_code == code and response.json() == body
        assert server.journal()[-1]["prefer"] == code
        normal = fetch_chats(server, "bot-alpha", [], headers={"Prefer": "code=200"})
        assert normal.status_code == 200
        assert (
            fetch_chats(server, "bot-alpha", [], headers={"Prefer": "code=503"}).status_code == 503
        )


class TestFaultsPerRoute:
    def test_a_rule_scoped_to_chats_leaves_leads_alone_and_the_reverse(
        self, server: MockServer
    ) -> None:
        ids = session_ids(server, "bot-alpha")[:3]
        with server.inject("500:route=chats"):
            assert fetch(server, "bot-alpha").status_code == 200
            assert fetch_chats(server, "bot-alpha", ids).status_code == 500
        with server.inject(faults.status(503, route="leads")):
            assert fetch_chats(server, "bot-alpha", ids).status_code == 200
            assert fetch(server, "bot-alpha").status_code == 503
        assert [e["fault"] for e in server.journal()] == [None, "status:500", None, "status:503"]

    def test_route_and_bot_scopes_combine(self, server: MockServer) -> None:
        server.inject(faults.status(429, retry_after=1, route="chats", bot="bot-beta"))
        assert fetch_chats(server, "bot-alpha", []).status_code == 200
        assert fetch(server, "bot-beta").status_code == 200
        limited = fetch_chats(server, "bot-beta", [])
        assert limited.status_code == 429 and limited.headers["retry-after"] == "1"

    def test_body_faults_damage_the_messages(self, server: MockServer) -> None:
        server.set_leads("bot-alpha", count=20)
        ids = session_ids(server, "bot-alpha")
        server.inject("non_object:route=chats:times=1")
        body = fetch_chats(server, "bot-alpha", ids).json()
        assert [x for x in body if not isinstance(x, dict)] == ["record-unavailable"]
        assert len(body) == len(server.chats("bot-alpha", ids)) + 1
        server.inject("truncated:route=chats:times=1")
        truncated = fetch_chats(server, "bot-alpha", ids)
        assert truncated.status_code == 200 and truncated.content.startswith(b'[{"id":"')
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(truncated.content)

    def test_a_fault_shows_no_messages_to_an_unknown_key(self, server: MockServer) -> None:
        server.inject(faults.non_object(route="chats", times=1))
        ids = session_ids(server, "bot-alpha")
        assert fetch_chats(server, "bot-alpha", ids, key="wrong").json() == ["record-unavailable"]


class TestAppendedMessages:
    def test_an_appended_message_is_served_after_everything_the_bot_had(
        self, server: MockServer
    ) -> None:
        ids = session_ids(server, "bot-alpha")
        before = fetch_chats(server, "bot-alpha", ids).json()
        added = server.append_message("bot-alpha", ids[4], content="Still there? 👀")
        after = fetch_chats(server, "bot-alpha", ids).json()
        assert len(after) == len(before) + 1 and added in after
        assert [m for m in after if m["session_id"] == ids[4]][-1] == added
        newest = max(parse_ms(m["created_at"]) for m in before)
        assert parse_ms(added["created_at"]) > newest, "the appended message must be the newest"

    def test_the_admin_api_appends_and_lists_a_sessions_messages(self, server: MockServer) -> None:
        session = session_ids(server, "bot-beta")[0]
        path = f"/bots/bot-beta/sessions/{session}/messages"
        created = admin(server, "POST", path, json={"content": "Bonjour ! 🇫🇷", "type": "human"})
        assert created.status_code == 201
        message = created.json()["appended"]
        assert message["message"]["data"] == {"type": "human", "content": "Bonjour ! 🇫🇷"}
        seeded = admin(server, "POST", path).json()["appended"]  # no body: a seeded human text
        assert seeded["message"]["type"] == seeded["message"]["data"]["type"] == "human"
        assert seeded["id"] != message["id"]
        listed = admin(server, "GET", path).json()
        assert listed == fetch_chats(server, "bot-beta", [session]).json()
        assert listed[-2:] == [message, seeded]
        raw = admin(server, "POST", path, json={"raw": {"session_id": session}}).json()
        assert raw["appended"] == {"session_id": session}
        assert fetch_chats(server, "bot-beta", [session]).json()[-1] == {"session_id": session}

    @pytest.mark.parametrize(
        ("path", "payload", "status"),
        [
            ("/bots/ghost/sessions/s/messages", {}, 404),
            ("/bots/bot-alpha/sessions/not-a-session/messages", {}, 404),
            ("/bots/bot-alpha/sessions/{session}/messages", {"text": "x"}, 400),
            ("/bots/bot-alpha/sessions/{session}/messages", {"content": 7}, 400),
            ("/bots/bot-alpha/sessions/{session}/messages", {"raw": [], "type": "ai"}, 400),
            ("/bots/bot-alpha/sessions/{session}/messages", ["x"], 400),
        ],
    )
    def test_bad_admin_appends_use_the_generic_error_shape(
        self, server: MockServer, path: str, payload: object, status: int
    ) -> None:
        path = path.format(session=session_ids(server, "bot-alpha")[0])
        response = admin(server, "POST", path, json=payload)
        assert response.status_code == status and set(response.json()) == {"message", "error"}

    def test_reset_drops_appended_messages(self, server: MockServer) -> None:
        session = session_ids(server, "bot-alpha")[0]
        added = server.append_message("bot-alpha", session)
        assert admin(server, "POST", "/reset").status_code == 200
        assert added not in fetch_chats(server, "bot-alpha", [session]).json()


class TestStreaming:
    def test_a_big_response_streams_session_by_session_and_a_small_one_comes_whole(self) -> None:
        with MockServer(leads_per_bot=300, messages_per_session=(40, 40)) as server:
            ids = session_ids(server, "bot-alpha")
            with httpx.stream(
                "POST", chats_url(server, "bot-alpha"), headers=bearer(server.api_key), json=ids
            ) as response:
                assert response.status_code == 200
                assert "content-length" not in response.headers  # chunked, not built in memory
                body = response.read()
            messages = orjson.loads(body)
            assert len(messages) == 300 * 40 and len({m["id"] for m in messages}) == 12_000
            assert [m["session_id"] for m in messages[::40]] == ids
            small = fetch_chats(server, "bot-alpha", ids[:1])
            assert int(small.headers["content-length"]) == len(small.content)

    def test_messages_are_generated_only_as_the_body_is_read(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        service = MockService(MockConfig(leads_per_bot=2000, messages_per_session=(100, 100)))
        ids = [lead["session_id"] for lead in service.leads("bot-alpha")]
        generated: list[str] = []
        real = service.conversations.session_chunk
        monkeypatch.setattr(
            type(service.conversations),
            "session_chunk",
            lambda self, bot, session, at: generated.append(session) or real(bot, session, at),
        )
        response = service.dispatch(
            MockRequest(
                "POST",
                "/v1/get-chats/bot-alpha",
                bearer(DEFAULT_API_KEY) | {"content-type": "application/json"},
                body=orjson.dumps(ids),
            )
        )
        # Deciding whether the body fits one piece reads at most two pieces of it.
        assert response.status == 200 and response.chunks is not None
        assert 0 < len(generated) <= 2 * PIECE_BYTES // 20_000 + 2
        pieces = response.iter_body()
        for _ in range(3):
            assert len(next(pieces)) >= PIECE_BYTES
        assert len(generated) <= 4 * PIECE_BYTES // 20_000 + 2
        assert sum(len(p) for p in pieces) > 100 * PIECE_BYTES
        assert generated == ids

    def test_memory_while_writing_a_response_does_not_grow_with_its_size(self) -> None:
        """20,000 then 80,000 messages (4.5 then 18 MB): the peak stays the same, a few pieces."""
        service = MockService(MockConfig(leads_per_bot=800, messages_per_session=(100, 100)))
        ids = [lead["session_id"] for lead in service.leads("bot-alpha")]
        assert len(service.snapshot("bot-alpha").leads.sessions) == 800  # type: ignore[union-attr]

        def written(sessions: list[str]) -> tuple[int, int]:
            headers = bearer(DEFAULT_API_KEY)
            request = MockRequest(
                "POST", "/v1/get-chats/bot-alpha", headers, body=orjson.dumps(sessions)
            )
            tracemalloc.start()
            try:
                total = sum(len(piece) for piece in service.dispatch(request).iter_body())
                return total, tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

        small_total, small_peak = written(ids[:200])
        big_total, big_peak = written(ids)
        assert big_total > 4 * small_total * 0.95 and big_total > 15_000_000
        assert big_peak < small_peak * 1.3 + 100_000, (small_peak, big_peak)
        assert big_peak < 20 * PIECE_BYTES, f"peak {big_peak:,} bytes writing {big_total:,}"


class TestResponseValidationMode:
    def test_chats_responses_pass_the_servers_own_check(self) -> None:
        with MockServer(validate_responses=True, leads_per_bot=20) as server:
            ids = session_ids(server, "bot-alpha")
            response = fetch_chats(server, "bot-alpha", ids)
            assert response.status_code == 200 and response.json()
            assert fetch_chats(server, "bot-alpha", ids, key="bad").status_code == 401

    def test_raw_messages_are_served_unchecked(self) -> None:
        with MockServer(validate_responses=True, leads_per_bot=2) as server:
            session = session_ids(server, "bot-alpha")[0]
            server.append_message("bot-alpha", session, raw={"no": "id"})
            response = fetch_chats(server, "bot-alpha", [session])
            assert response.status_code == 200 and response.json()[-1] == {"no": "id"}
