"""The run's configuration never shows its secret."""

from __future__ import annotations

from chatnode_contract.config import CheckConfig, redact
from unit_tests.chatnode_contract.runs import BASE_URL, KEY


def test_the_key_is_redacted_from_any_message_and_from_the_config_repr() -> None:
    assert redact(f"boom: Authorization: Bearer {KEY}", KEY) == "boom: Authorization: Bearer ***"
    assert KEY not in repr(CheckConfig(BASE_URL, KEY, ("a",)))


def test_an_empty_secret_redacts_nothing() -> None:
    assert redact("no secret here", "") == "no secret here"
