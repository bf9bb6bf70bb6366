"""The `chatnode_mock` fixture and marker, used the way a connector's tests use them."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from mock_server import faults
from mock_server.server import MockServer

pytest_plugins = ["pytester"]


def post(server: MockServer, bot: str = "bot-alpha") -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/get-conversation-ids/{bot}",
        headers={"Authorization": f"Bearer {server.api_key}"},
    )


def test_fixture_gives_a_running_default_server(chatnode_mock: MockServer) -> None:
    assert chatnode_mock.config.leads_per_bot == 100
    assert len(post(chatnode_mock).json()) == 100


@pytest.mark.chatnode_mock(leads_per_bot=5, quirks=True, bots=["only-bot"])
def test_marker_configures_it(chatnode_mock: MockServer) -> None:
    assert len(post(chatnode_mock, "only-bot").json()) == 5
    assert post(chatnode_mock, "bot-alpha").status_code == 403


@pytest.mark.chatnode_mock(faults=[faults.status(503, times=1)], leads_per_bot=1)
def test_marker_sets_the_fault_plan(chatnode_mock: MockServer) -> None:
    assert [post(chatnode_mock).status_code for _ in range(2)] == [503, 200]


@pytest.mark.chatnode_mock(admin_token="fixture-token", leads_per_bot=1)
def test_marker_locks_the_admin_api(chatnode_mock: MockServer) -> None:
    health = f"{chatnode_mock.root_url}/_admin/health"
    assert httpx.get(health).status_code == 401
    assert httpx.get(health, headers=chatnode_mock.admin_headers).status_code == 200


def test_session_factory(chatnode_mock_factory: Callable[..., MockServer]) -> None:
    server = chatnode_mock_factory(leads_per_bot=2)
    assert len(post(server).json()) == 2


def test_plugin_is_registered_by_entry_point_with_its_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.chatnode_mock(leads_per_bot=1)
        def test_uses_it(chatnode_mock):
            assert chatnode_mock.base_url.endswith("/v1")
        """
    )
    result = pytester.runpytest("--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "chatnode_mock" in "\n".join(pytester.runpytest("--markers").outlines)
