"""MockConfig and the CLI's API key syntax."""

from __future__ import annotations

import pytest

from mock_server.config import (
    MockConfig,
    is_loopback,
    parse_api_keys,
    parse_messages_per_session,
)


def test_defaults_serve_two_bots_on_loopback_with_one_key() -> None:
    config = MockConfig()
    assert config.host == "127.0.0.1" and config.port == 0
    assert dict(config.api_keys) == {"mock-secret-key": None}
    assert config.bots == ("bot-alpha", "bot-beta") and config.leads_per_bot == 100
    assert config.messages_per_session == (0, 8)
    assert not config.quirks and not config.validate_responses and not config.allow_request_body


def test_key_scopes_become_frozensets() -> None:
    config = MockConfig(api_keys={"a": None, "b": ["bot-1", "bot-2"]})
    assert config.api_keys["b"] == frozenset({"bot-1", "bot-2"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("secret", ("secret", None)),
        ("secret:bot-a", ("secret", frozenset({"bot-a"}))),
        ("secret:bot-a, bot-b", ("secret", frozenset({"bot-a", "bot-b"}))),
    ],
)
def test_api_key_syntax(text: str, expected: tuple) -> None:
    assert parse_api_keys([text]) == dict([expected])


@pytest.mark.parametrize("text", ["", ":bot-a", "secret:", "secret:,"])
def test_malformed_api_key_is_rejected_with_the_syntax_and_not_echoed(text: str) -> None:
    with pytest.raises(ValueError, match="KEY") as info:
        parse_api_keys([text])
    assert "secret" not in str(info.value)


def test_duplicate_key_is_an_error_that_does_not_echo_it() -> None:
    with pytest.raises(ValueError, match="given twice") as info:
        parse_api_keys(["top-secret", "top-secret:bot-a"])
    assert "top-secret" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api_keys": {}}, "at least one API key"),
        ({"leads_per_bot": -1}, "leads_per_bot"),
        ({"bots": ["a", "a"]}, "unique"),
        ({"host": "0.0.0.0"}, "not a loopback address: set admin_token"),
        ({"host": "192.168.1.5"}, "not a loopback address: set admin_token"),
        ({"admin_token": ""}, "admin_token must not be empty"),
        ({"messages_per_session": (5, 2)}, "messages per session 5-2"),
        ({"messages_per_session": (-1, 2)}, "messages per session -1-2"),
    ],
)
def test_invalid_config_is_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MockConfig(**kwargs)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("", False), ("10.0.0.1", False), ("example.com", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_non_loopback_host_needs_an_admin_token_which_stays_out_of_repr() -> None:
    config = MockConfig(host="0.0.0.0", admin_token="admin-s3cret")
    assert config.admin_token == "admin-s3cret" and "admin-s3cret" not in repr(config)


@pytest.mark.parametrize(
    ("text", "expected"), [("100", (100, 100)), ("0-8", (0, 8)), (" 2-3 ", (2, 3))]
)
def test_messages_per_session_syntax(text: str, expected: tuple[int, int]) -> None:
    assert parse_messages_per_session(text) == expected
    assert MockConfig(messages_per_session=list(expected)).messages_per_session == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "a-b", "1-", "-", "1.5"])
def test_malformed_messages_per_session_is_rejected_with_the_syntax(text: str) -> None:
    with pytest.raises(ValueError, match="use N or MIN-MAX"):
        parse_messages_per_session(text)
