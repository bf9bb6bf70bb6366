"""pytest plugin (entry point `chatnode_mock`): `chatnode_mock`, a live mock server per test
configured by `@pytest.mark.chatnode_mock(**MockConfig fields)`, like respx's `respx_mock`; and
`chatnode_mock_factory` (session-scoped), which starts servers with any config and stops them all
at the end of the session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mock_server.config import MockConfig
from mock_server.server import MockServer

MARKER = "chatnode_mock"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**config): MockConfig fields for the `{MARKER}` fixture, e.g. "
        "leads_per_bot=5, quirks=True, faults=[faults.status(429, route='chats')]",
    )


@pytest.fixture
def chatnode_mock(request: pytest.FixtureRequest) -> Iterator[MockServer]:
    """A started MockServer for this test; the marker's keywords override MockConfig defaults."""
    overrides: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword arguments only")
        overrides.update(marker.kwargs)
    with MockServer(MockConfig(**overrides)) as server:
        yield server


@pytest.fixture(scope="session")
def chatnode_mock_factory() -> Iterator[Callable[..., MockServer]]:
    """`factory(**config)` starts a MockServer that lives until the end of the session."""
    started: list[MockServer] = []

    def start(config: MockConfig | None = None, **overrides: Any) -> MockServer:
        server = MockServer(config, **overrides).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
