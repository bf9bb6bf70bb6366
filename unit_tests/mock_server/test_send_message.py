"""Send Message (`POST /v1/{bot_id}`) and Authenticate Me (`GET /v1/auth_me`) over real HTTP: the
spec's shapes, a conversation that flows into Get Chat History and Get Leads, the mock's
strictness, auth, faults and concurrent senders."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

import chatnode_spec
from mock_server import faults, replies
from mock_server.config import MockConfig
from mock_server.data import EXCHANGES, parse_ms
from mock_server.server import MockServer

from .conftest import admin, assert_matches_spec, bearer, fetch, fetch_chats, session_ids

SEND = chatnode_spec.operation_at("/{bot_id}", "POST")


def send(
    server: MockServer, bot_id: str, body: Any, key: str | None = None, **kwargs: Any
) -> httpx.Response:
    """POST Send Message as ChatNode's public clients do (`{message, chat_session_id}`)."""
    headers = bearer(key or server.api_key)
    return httpx.post(
        f"{server.base_url}/{bot_id}", headers=headers, json=body, timeout=30, **kwargs
    )


def auth_me(server: MockServer, key: str | None = None) -> httpx.Response:
    return httpx.get(f"{server.base_url}/auth_me", headers=bearer(key or server.api_key))


def text_of(message: dict[str, Any]) -> tuple[str, str]:
    return message["message"]["type"], message["message"]["data"]["content"]


def every_message_ms(server: MockServer, bot_id: str) -> list[int]:
    return [parse_ms(m["created_at"]) for m in server.chats(bot_id, session_ids(server, bot_id))]


class TestSendMessage:
    def test_reply_matches_the_spec_and_answers_rather_than_echoes(
        self, server: MockServer
    ) -> None:
        response = send(server, "bot-alpha", {"message": "How much does the Pro plan cost?"})
        assert response.status_code == 200
        assert_matches_spec(response)
        body = response.json()
        assert set(body) == {"id", "message", "chat_session_id", "urls", "docs"}
        assert "$49/month" in body["message"]
        assert body["message"] != "How much does the Pro plan cost?"
        assert len(body["id"]) == 36 and body["id"].count("-") == 4

    def test_the_same_seed_gives_the_same_conversation(self) -> None:
        asked = ["Is there a free trial?", "ok", "Where do I find my API key?"]
        runs = []
        for _ in range(2):
            with MockServer(MockConfig(leads_per_bot=3, seed=7)) as server:
                first = send(server, "bot-alpha", {"message": asked[0]}).json()
                later = [
                    send(server, "bot-alpha", {"message": q, "chat_session_id": first["chat_session_id"]}).json()
                    for q in asked[1:]
                ]  # fmt: skip
                runs.append(
                    ([first, *later], server.chats("bot-alpha", [first["chat_session_id"]]))
                )
        assert runs[0] == runs[1]

    def test_both_turns_join_the_history_after_every_message_the_bot_had(
        self, server: MockServer
    ) -> None:
        before = max(every_message_ms(server, "bot-alpha"))
        lead_session = session_ids(server, "bot-alpha")[0]
        history = server.chats("bot-alpha", [lead_session])
        reply = send(
            server, "bot-alpha", {"message": "Still there?", "chat_session_id": lead_session}
        ).json()
        assert reply["chat_session_id"] == lead_session
        served = fetch_chats(server, "bot-alpha", [lead_session])
        assert_matches_spec(served)
        now = served.json()
        assert now[: len(history)] == history
        question, answer = now[len(history) :]
        assert text_of(question) == ("human", "Still there?")
        assert text_of(answer) == ("ai", reply["message"])
        assert before < parse_ms(question["created_at"]) < parse_ms(answer["created_at"])

    def test_without_a_session_id_a_session_starts_and_get_leads_lists_it(
        self, server: MockServer
    ) -> None:
        leads_before = fetch(server, "bot-alpha").json()
        session = send(server, "bot-alpha", {"message": "hello??"}).json()["chat_session_id"]
        bot, _, millis = session.rpartition("-")
        assert bot == "bot-alpha" and millis.isdigit()
        leads = fetch(server, "bot-alpha")
        assert_matches_spec(leads)
        assert leads.json()[: len(leads_before)] == leads_before
        (lead,) = leads.json()[len(leads_before) :]
        assert lead == {"session_id": session, "created_at": lead["created_at"]}
        assert parse_ms(lead["created_at"]) == int(millis)
        assert parse_ms(lead["created_at"]) > max(parse_ms(x["created_at"]) for x in leads_before)
        messages = server.chats("bot-alpha", [session])
        assert [text_of(m)[0] for m in messages] == ["human", "ai"]

    def test_two_new_sessions_never_share_an_id(self, server: MockServer) -> None:
        ids = {
            send(server, "bot-alpha", {"message": "hi"}).json()["chat_session_id"] for _ in range(5)
        }
        assert len(ids) == 5

    @pytest.mark.chatnode_mock(leads_per_bot=2, list_sent_sessions=False)
    def test_unlisted_sessions_stay_out_of_get_leads_but_keep_their_history(
        self, chatnode_mock: MockServer
    ) -> None:
        session = send(chatnode_mock, "bot-alpha", {"message": "hi"}).json()["chat_session_id"]
        send(chatnode_mock, "bot-alpha", {"message": "ok", "chat_session_id": session})
        assert session not in session_ids(chatnode_mock, "bot-alpha")
        assert len(fetch(chatnode_mock, "bot-alpha").json()) == 2
        assert len(fetch_chats(chatnode_mock, "bot-alpha", [session]).json()) == 4

    def test_a_session_id_the_bot_does_not_have_starts_that_session(
        self, server: MockServer
    ) -> None:
        reply = send(server, "bot-alpha", {"message": "hi", "chat_session_id": "whatsapp-4915"})
        assert reply.json()["chat_session_id"] == "whatsapp-4915"
        assert "whatsapp-4915" in session_ids(server, "bot-alpha")
        assert len(server.chats("bot-alpha", ["whatsapp-4915"])) == 2
        assert server.chats("bot-beta", ["whatsapp-4915"]) == []

    @pytest.mark.parametrize(
        ("body", "error"),
        [
            ({"message": "hi", "streaming": True}, "streaming_unsupported"),
            ({"message": "hi", "chatSessionId": "x"}, "unknown_field"),
            ({"chat_session_id": "x"}, "invalid_body"),
            ({"message": 42}, "invalid_body"),
            (["hi"], "invalid_body"),
        ],
    )
    def test_bodies_the_mock_cannot_honour_are_400_and_record_nothing(
        self, server: MockServer, body: Any, error: str
    ) -> None:
        response = send(server, "bot-alpha", body)
        assert (response.status_code, response.json()["error"]) == (400, error)
        assert_matches_spec(response)
        assert len(server.leads("bot-alpha")) == 20
        if error == "streaming_unsupported":
            assert "not publish" in response.json()["message"]

    def test_streaming_false_is_a_normal_answer(self, server: MockServer) -> None:
        assert send(server, "bot-alpha", {"message": "hi", "streaming": False}).status_code == 200

    @pytest.mark.chatnode_mock(leads_per_bot=1, allow_unknown_fields=True)
    def test_unknown_fields_are_ignored_when_allowed(self, chatnode_mock: MockServer) -> None:
        assert send(chatnode_mock, "bot-alpha", {"message": "hi", "extra": 1}).status_code == 200

    @pytest.mark.chatnode_mock(leads_per_bot=1, api_keys={"full": None, "partner": ["bot-alpha"]})
    def test_keys_and_bots_are_checked_as_on_every_route(self, chatnode_mock: MockServer) -> None:
        statuses = [
            send(chatnode_mock, "bot-alpha", {"message": "hi"}, key="partner").status_code,
            send(chatnode_mock, "bot-beta", {"message": "hi"}, key="partner").status_code,
            send(chatnode_mock, "ghost", {"message": "hi"}, key="full").status_code,
            send(chatnode_mock, "bot-alpha", {"message": "hi"}, key="wrong").status_code,
        ]
        assert statuses == [200, 403, 403, 401]
        denied = send(chatnode_mock, "bot-beta", {"message": "hi"}, key="partner")
        assert denied.json() == {"message": chatnode_spec.documented_error_message(SEND, 403)}
        assert len(chatnode_mock.leads("bot-beta")) == 1

    def test_a_status_fault_on_send_records_nothing_and_latency_still_answers(
        self, server: MockServer
    ) -> None:
        with server.inject(faults.status(503, route="send", times=1)):
            assert send(server, "bot-alpha", {"message": "hi"}).status_code == 503
            assert fetch(server, "bot-alpha").status_code == 200
        assert len(server.leads("bot-alpha")) == 20
        with server.inject(faults.latency(0.05, route="send")):
            assert send(server, "bot-alpha", {"message": "hi"}).status_code == 200
        assert [e["fault"] for e in server.journal()[-1:]] == ["latency:0.05"]

    def test_concurrent_senders_to_one_session_never_interleave(self, server: MockServer) -> None:
        session = send(server, "bot-alpha", {"message": "start"}).json()["chat_session_id"]
        senders, each = 4, 6

        def chat(name: str) -> None:
            with httpx.Client(base_url=server.base_url, headers=bearer(server.api_key)) as client:
                for turn in range(each):
                    body = {"message": f"{name} {turn}", "chat_session_id": session}
                    assert client.post("/bot-alpha", json=body).status_code == 200

        threads = [threading.Thread(target=chat, args=(f"user{i}",)) for i in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        messages = server.chats("bot-alpha", [session])[2:]
        assert len(messages) == 2 * senders * each
        stamps = [parse_ms(m["created_at"]) for m in messages]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        questions = [text_of(m) for m in messages[0::2]]
        assert {kind for kind, _ in questions} == {"human"}
        assert {text_of(m)[0] for m in messages[1::2]} == {"ai"}
        for i in range(senders):
            mine = [text for _, text in questions if text.startswith(f"user{i} ")]
            assert mine == [f"user{i} {turn}" for turn in range(each)]


class TestAuthenticateMe:
    def test_a_valid_key_gets_its_team_in_the_assumed_shape(self, server: MockServer) -> None:
        response = auth_me(server)
        assert response.status_code == 200
        assert_matches_spec(response)
        team = response.json()
        assert set(team) == {"id", "name", "slug"} and isinstance(team["id"], int)
        assert server.api_key not in response.text
        assert chatnode_spec.operation_at("/auth_me").assumed

    @pytest.mark.parametrize("headers", [{}, bearer("wrong-key"), {"Authorization": "Basic eA=="}])
    def test_a_missing_or_wrong_key_is_401(self, server: MockServer, headers: dict) -> None:
        response = httpx.get(f"{server.base_url}/auth_me", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"message": "Bearer token missing or unknown"}
        assert_matches_spec(response)

    @pytest.mark.chatnode_mock(api_keys={"partner": ["bot-beta"]})
    def test_a_key_limited_to_some_bots_is_still_valid(self, chatnode_mock: MockServer) -> None:
        assert auth_me(chatnode_mock, "partner").status_code == 200

    def test_faults_apply_on_the_auth_route_only(self, server: MockServer) -> None:
        with server.inject("500:route=auth:times=1"):
            assert auth_me(server).status_code == 500
            assert auth_me(server).status_code == 200
        assert [e["fault"] for e in server.journal()] == ["status:500", None]

    def test_post_to_auth_me_is_405_not_a_message_to_a_bot(self, server: MockServer) -> None:
        response = send(server, "auth_me", {"message": "hi"})
        assert response.status_code == 405 and response.headers["allow"] == "GET"


def test_admin_sends_a_message_as_an_end_user(server: MockServer) -> None:
    made = admin(server, "POST", "/bots/bot-alpha/messages", json={"message": "Demo please!"})
    assert made.status_code == 201
    body = made.json()
    session = body["response"]["chat_session_id"]
    assert body["lead"] == {"session_id": session, "created_at": body["lead"]["created_at"]}
    assert [text_of(m)[0] for m in body["messages"]] == ["human", "ai"]
    assert server.chats("bot-alpha", [session]) == body["messages"]
    follow = admin(server, "POST", "/bots/bot-alpha/messages",
                   json={"message": "ok", "chat_session_id": session})  # fmt: skip
    assert follow.json()["lead"] is None and len(server.chats("bot-alpha", [session])) == 4
    for bad in ({"message": 1}, {"text": "hi"}, {"message": "hi", "chat_session_id": 3}):
        assert admin(server, "POST", "/bots/bot-alpha/messages", json=bad).status_code == 400
    assert admin(server, "POST", "/bots/ghost/messages", json={"message": "hi"}).status_code == 404
    assert server.journal() == []


def test_the_readmes_python_example_runs_against_the_mock(server: MockServer) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Mock server") :]
    example = section[section.index("```python\n") + 10 :]
    example = example[: example.index("```")]
    scope: dict[str, Any] = {}
    exec(example.replace("http://127.0.0.1:8080/v1", server.base_url), scope)
    assert len(scope["history"]) == 4
    assert scope["leads"][-1]["session_id"] == scope["session"]


def test_a_reply_is_the_best_matching_answer_or_a_generic_one_and_seeded() -> None:
    reply = replies.reply
    assert "$49/month" in reply(0, "bot-alpha", "s", 0, "What does the Pro plan cost?").content
    unmatched = {reply(0, "bot-alpha", "s", n, "zzz qqq").content for n in range(40)}
    assert len(unmatched) > 1 and unmatched.isdisjoint(answer for _, answer in EXCHANGES)
    assert reply(3, "b", "s", 5, "ok") == reply(3, "b", "s", 5, "ok")
    sample = [reply(0, "bot-alpha", "s", n, "hi") for n in range(200)]
    assert any(r.urls for r in sample) and any(r.docs for r in sample)
    assert any(not r.urls and not r.docs for r in sample)
