"""Fixtures for the checker's tests: the mock ChatNode API in-process, answering for `runs.KEY`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mock_server.respx_router import chatnode_respx_router
from unit_tests.chatnode_contract.runs import mock_config


@pytest.fixture
def router() -> Iterator[Any]:
    """The mock API in-process at ChatNode's real base URL, with KEY reading every bot."""
    with chatnode_respx_router(mock_config()) as mocked:
        yield mocked
