"""Bearer parsing and the key check."""

from __future__ import annotations

import hmac

import pytest

from mock_server import auth
from mock_server.auth import AuthOutcome, KeyRing, bearer_token

RING = KeyRing({"all-bots": None, "alpha-only": frozenset({"bot-alpha"})})


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("Bearer   abc  ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_outcomes() -> None:
    assert RING.check(None, "bot-alpha", True) is AuthOutcome.MISSING
    assert RING.check("nope", "bot-alpha", True) is AuthOutcome.UNKNOWN
    assert RING.check("all-bots", "bot-alpha", True) is AuthOutcome.OK
    assert RING.check("all-bots", "bot-zeta", False) is AuthOutcome.FORBIDDEN
    assert RING.check("alpha-only", "bot-alpha", True) is AuthOutcome.OK
    assert RING.check("alpha-only", "bot-beta", True) is AuthOutcome.FORBIDDEN


def test_prefix_or_extension_of_a_key_is_unknown() -> None:
    assert RING.check("all-bot", "bot-alpha", True) is AuthOutcome.UNKNOWN
    assert RING.check("all-botss", "bot-alpha", True) is AuthOutcome.UNKNOWN


def test_every_key_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert RING.check("all-bots", None, True) is AuthOutcome.OK
    # No early exit on the first (matching) key: both keys are compared.
    assert [b for _, b in calls] == [b"all-bots", b"alpha-only"]


@pytest.mark.parametrize(
    ("token", "admin_token", "allowed"),
    [(None, None, True), ("any", None, True), (None, "t0k", False), ("t0k", "t0k", True),
     ("t0", "t0k", False), ("t0kk", "t0k", False), ("T0K", "t0k", False)],
)  # fmt: skip
def test_admin_token_check(token: str | None, admin_token: str | None, allowed: bool) -> None:
    assert auth.admin_allowed(token, admin_token) is allowed
