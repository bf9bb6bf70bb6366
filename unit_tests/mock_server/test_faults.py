"""Fault injection: the plan's scopes, the CLI syntax, and each kind as an httpx client sees it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server import faults
from mock_server.faults import FIELDS, KINDS, FaultPlan, FaultRule, parse_fault
from mock_server.responses import MockResponse
from mock_server.server import MockServer

from .conftest import bearer, fetch, leads_url


class TestPlan:
    def test_no_rules_no_fault(self) -> None:
        assert FaultPlan().pick("bot") is None

    def test_first_matching_rule_wins(self) -> None:
        plan = FaultPlan([faults.status(503, bot="b"), faults.status(429), faults.drop()])
        assert plan.pick("b").status == 503  # type: ignore[union-attr]
        assert plan.pick("a").status == 429  # type: ignore[union-attr]

    def test_bot_scope(self) -> None:
        plan = FaultPlan([faults.html(bot="b")])
        assert plan.pick("a") is None
        assert plan.pick("b").kind == "html"  # type: ignore[union-attr]

    def test_route_scope(self) -> None:
        plan = FaultPlan([faults.status(500, route="chats"), faults.drop(route="leads", bot="b")])
        assert plan.pick("a", "chats").status == 500  # type: ignore[union-attr]
        assert plan.pick("a", "leads") is None and plan.pick("a") is None
        assert plan.pick("b", "leads").kind == "drop"  # type: ignore[union-attr]

    def test_an_unknown_route_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"route='messages' is not valid; route=leads\|chats"):
            faults.status(500, route="messages")

    def test_next_n_requests_then_spent(self) -> None:
        plan = FaultPlan([faults.status(429, times=2)])
        assert [plan.pick("a") is not None for _ in range(4)] == [True, True, False, False]
        assert plan.describe() == []

    def test_times_counts_only_requests_the_rule_matches(self) -> None:
        plan = FaultPlan([faults.drop(bot="b", times=1)])
        assert plan.pick("a") is None and plan.pick("a") is None
        assert plan.pick("b") is not None and plan.pick("b") is None

    def test_seeded_fraction_is_reproducible_and_about_p(self) -> None:
        def sequence(seed: int) -> list[bool]:
            plan = FaultPlan([faults.status(503, p=0.2, seed=seed)])
            return [plan.pick("a") is not None for _ in range(2000)]

        assert sequence(7) == sequence(7)
        assert sequence(7) != sequence(8)
        assert 0.15 < sum(sequence(7)) / 2000 < 0.25

    def test_fraction_and_times_combine(self) -> None:
        plan = FaultPlan([faults.status(503, p=0.5, times=3, seed=1)])
        assert sum(plan.pick("a") is not None for _ in range(200)) == 3

    def test_replace_restarts_countdowns(self) -> None:
        rule = faults.status(429, times=1)
        plan = FaultPlan([rule])
        assert plan.pick("a") and not plan.pick("a")
        plan.replace([rule])
        assert plan.pick("a")

    def test_remove_and_clear(self) -> None:
        plan = FaultPlan()
        first, second = plan.add(faults.drop()), plan.add(faults.html())
        assert first.remove() and not plan.remove(first.id)
        assert plan.pick("a").kind == "html"  # type: ignore[union-attr]
        plan.clear()
        assert plan.pick("a") is None and not second.remove()


class TestSyntax:
    @pytest.mark.parametrize(
        ("text", "rule"),
        [
            ("429:retry_after=2:times=3", faults.status(429, retry_after=2, times=3)),
            ("503:p=0.2:seed=7", faults.status(503, p=0.2, seed=7)),
            ("500:message=boom", faults.status(500, message="boom")),
            ("drop:bot=bot-a", faults.drop(bot="bot-a")),
            ("latency=1.5", faults.latency(1.5)),
            ("latency=0.2:times=1", faults.latency(0.2, times=1)),
            ("html", faults.html()),
            ("truncated", faults.truncated()),
            ("non_object:bot=b:times=2", faults.non_object(bot="b", times=2)),
            ("500:route=chats", faults.status(500, route="chats")),
            ("truncated:route=leads:bot=b", faults.truncated(route="leads", bot="b")),
            ("latency=2:route=chats", faults.latency(2, route="chats")),
        ],
    )
    def test_parses(self, text: str, rule: FaultRule) -> None:
        assert parse_fault(text) == rule

    @pytest.mark.parametrize(
        "text",
        [
            "teapot",
            "429:times",
            "429:times=0",
            "503:p=2",
            "drop:retry_after=1",
            "latency",
            "status",
            "503:retry_after=inf",
            "latency=nan",
            "99",
            "latency=x",
            "500:route=nowhere",
            "500:path=chats",
        ],
    )
    def test_rejects_with_a_message_naming_the_spec(self, text: str) -> None:
        with pytest.raises(ValueError, match="fault"):
            parse_fault(text)

    def test_json_keeps_every_set_field(self) -> None:
        assert faults.html(route="chats").to_json() == {"kind": "html", "route": "chats"}
        assert FaultRule.from_json({"spec": "drop"}) == faults.drop()
        assert parse_fault("429:retry_after=0").to_json() == {
            "kind": "status",
            "status": 429,
            "retry_after": 0.0,
        }

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"kind": "drop", "bot": "b", "path": "x"}, "unknown fault fields"),
            ({"kind": "status"}, "needs status"),
            ({"kind": "status", "status": 429, "times": "3"}, "times must be a int"),
            ({"kind": "html", "seconds": 1}, "does not apply"),
            ({"kind": "teapot"}, "unknown kind 'teapot'; use `429`"),
            ({"kind": ["drop"]}, "unknown kind"),
        ],
    )
    def test_json_is_checked_by_the_same_validator(self, data: dict, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            FaultRule.from_json(data)

    @given(st.data())
    def test_text_and_json_round_trip_with_zeros(self, data: st.DataObject) -> None:
        """parse -> to_json -> JSON bytes -> from_json gives the same rule, zeros kept: the
        admin API once dropped `retry_after=0` and so the Retry-After header."""
        kind = data.draw(st.sampled_from(list(KINDS)))
        drawn: dict[str, Any] = {}
        for name in (*KINDS[kind].own, "route", "bot", "times", "p", "seed"):
            if name in KINDS[kind].own[:1] or data.draw(st.booleans()):
                drawn[name] = data.draw(_FIELD_VALUES[name])
        head = {"status": "{status}", "latency": "latency={seconds}"}
        text = head.get(kind, kind).format(**drawn)
        text += "".join(f":{k}={v}" for k, v in drawn.items() if k not in ("status", "seconds"))
        rule = parse_fault(text)
        assert rule == FaultRule(kind, **drawn)
        assert FaultRule.from_json(orjson.loads(orjson.dumps(rule.to_json()))) == rule
        if kind == "status" and "retry_after" in drawn:
            response = KINDS[rule.kind].respond(rule, _unused, iter(()))
            assert float(response.headers["Retry-After"]) == drawn["retry_after"]


_CLI_TEXT = st.characters(
    blacklist_characters=":", blacklist_categories=["Cs", "Cc", "Zs", "Zl", "Zp"]
)
"""What a CLI option's value may hold: no `:` (it separates options), no surrounding spaces."""
_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "status": st.integers(100, 599),
    "retry_after": st.sampled_from([0, 0.0, 1, 2.5]) | st.floats(0, 3600),
    "message": st.text(_CLI_TEXT),
    "seconds": st.sampled_from([0, 0.0, 0.2]) | st.floats(0, 60),
    "route": st.sampled_from(["leads", "chats", "send", "auth"]),
    "bot": st.text(_CLI_TEXT, min_size=1),
    "times": st.integers(1, 10**6),
    "p": st.sampled_from([0, 0.0, 1]) | st.floats(0, 1),
    "seed": st.integers(-(2**31), 2**31),
}
assert set(_FIELD_VALUES) == set(FIELDS)


class TestOverHttp:
    """Each kind of fault, observed by a plain httpx client against the live server."""

    def test_status_429_with_retry_after(self, server: MockServer) -> None:
        server.inject(faults.status(429, retry_after=2, times=1))
        response = fetch(server, "bot-alpha")
        assert response.status_code == 429
        assert response.headers["retry-after"] == "2"
        assert response.json()["error"] == "rate_limited" and response.json()["message"]
        assert fetch(server, "bot-alpha").status_code == 200

    @pytest.mark.parametrize("code", [404, 500, 502, 503])
    def test_any_status_uses_the_generic_error_shape(self, server: MockServer, code: int) -> None:
        server.inject(f"{code}:times=1")
        response = fetch(server, "bot-alpha")
        assert response.status_code == code
        assert set(response.json()) == {"message", "error"}

    def test_latency_holds_the_answer_then_answers_normally(self, server: MockServer) -> None:
        server.inject(faults.latency(30, times=1))
        with pytest.raises(httpx.ReadTimeout, match="timed out"):
            httpx.post(leads_url(server, "bot-alpha"), headers=bearer(server.api_key), timeout=0.2)
        server.inject(faults.latency(0.01, times=1))
        response = fetch(server, "bot-alpha")
        assert response.status_code == 200 and len(response.json()) == 20
        assert [e["fault"] for e in server.journal()] == ["latency:30", "latency:0.01"]

    def test_drop_is_a_protocol_error_in_httpx(self, server: MockServer) -> None:
        with server.inject(faults.drop()), pytest.raises(httpx.RemoteProtocolError, match="closed"):
            fetch(server, "bot-alpha")
        assert fetch(server, "bot-alpha").status_code == 200  # the server lives on

    def test_drop_of_a_streamed_body(self, server: MockServer) -> None:
        server.set_leads("bot-alpha", count=5000)
        with server.inject(faults.drop()), pytest.raises(httpx.RemoteProtocolError, match="closed"):
            fetch(server, "bot-alpha")

    def test_truncated_is_a_200_with_invalid_json(self, server: MockServer) -> None:
        server.inject(faults.truncated(times=1))
        response = fetch(server, "bot-alpha")
        assert response.status_code == 200 and response.content.startswith(b'[{"session_id"')
        with pytest.raises(json.JSONDecodeError, match="Unterminated string"):
            json.loads(response.content)

    def test_html_page_with_html_content_type(self, server: MockServer) -> None:
        server.inject(faults.html(times=1))
        response = fetch(server, "bot-alpha")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert response.text.lstrip().lower().startswith("<!doctype html>")

    def test_non_object_element(self, server: MockServer) -> None:
        server.inject(faults.non_object(times=1))
        body = fetch(server, "bot-alpha").json()
        assert len(body) == 21
        assert [x for x in body if not isinstance(x, dict)] == ["record-unavailable"]

    def test_bot_scope_over_http(self, server: MockServer) -> None:
        server.inject(faults.status(503, bot="bot-beta"))
        assert fetch(server, "bot-alpha").status_code == 200
        assert fetch(server, "bot-beta").status_code == 503

    def test_next_n_over_http(self, server: MockServer) -> None:
        server.inject("502:times=2")
        assert [fetch(server, "bot-alpha").status_code for _ in range(3)] == [502, 502, 200]

    def test_fraction_over_http_matches_the_plan(self, server: MockServer) -> None:
        server.inject(faults.status(503, p=0.3, seed=11))
        seen = [fetch(server, "bot-alpha").status_code == 503 for _ in range(12)]
        expected_plan = FaultPlan([faults.status(503, p=0.3, seed=11)])
        assert seen == [expected_plan.pick("bot-alpha") is not None for _ in range(12)]

    def test_faults_are_journaled(self, server: MockServer) -> None:
        server.inject("429:times=1")
        fetch(server, "bot-alpha")
        fetch(server, "bot-alpha")
        assert [e["fault"] for e in server.journal()] == ["status:429", None]

    def test_fault_data_is_not_shown_to_an_unknown_key(self, server: MockServer) -> None:
        server.inject(faults.non_object(times=1))
        assert fetch(server, "bot-alpha", key="wrong").json() == ["record-unavailable"]

    def test_initial_plan_from_config_returns_after_reset(self) -> None:
        with MockServer(faults=[faults.status(503, times=1)], leads_per_bot=1) as server:
            assert fetch(server, "bot-alpha").status_code == 503
            assert fetch(server, "bot-alpha").status_code == 200
            server.reset()
            assert fetch(server, "bot-alpha").status_code == 503


def test_truncated_without_records_is_still_invalid_json() -> None:
    response = KINDS["truncated"].respond(faults.truncated(), _unused, iter(()))
    with pytest.raises(orjson.JSONDecodeError, match="unexpected end of data"):
        orjson.loads(response.body)


@pytest.mark.parametrize(
    ("elements", "body"),
    [([], b'["record-unavailable"]'),
     ([b'{"a":1},{"b":2}', b'{"c":3}'], b'[{"a":1},{"b":2},"record-unavailable",{"c":3}]')],
)  # fmt: skip
def test_non_object_puts_a_string_after_the_first_chunk_of_records(
    elements: list[bytes], body: bytes
) -> None:
    response = KINDS["non_object"].respond(faults.non_object(), _unused, iter(elements))
    assert b"".join(response.iter_body()) == body


def _unused() -> MockResponse:
    raise AssertionError("this fault must not build the normal response")
