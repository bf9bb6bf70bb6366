"""Test-wide settings: hypothesis profiles, and two fixtures every in-process sync relies on.

Pick a profile with `HYPOTHESIS_PROFILE` (`make test` uses `ci`): `ci` is derandomized and
bounded so the suite fits its time budget on two cores; `dev` explores more examples.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from typing import Any

import airbyte_cdk.sources.declarative.concurrent_declarative_source as declarative_source_module
import backoff._sync
import pytest
from airbyte_cdk.sources.streams.http import rate_limiting
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=25,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "dev",
    max_examples=200,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# airbyte-cdk's standard test suite collects its scenarios through these hooks.
pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]


class _RecordedSleep:
    """The `time` module as the CDK's and the `backoff` library's retry handlers see it: every
    attribute is the real one but `sleep`, which records the wait it was asked for instead."""

    def __init__(self, waits: list[float]) -> None:
        self._waits = waits

    def sleep(self, seconds: float) -> None:
        if seconds:  # `backoff` sleeps 0 around the CDK's own Retry-After wait: no wait at all
            self._waits.append(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture(autouse=True)
def backoff_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """No test waits in real time for a retry. In this process the CDK's retry handlers
    (`rate_limiting`: Retry-After plus one second; `backoff`: exponential) only record each
    wait, in seconds, in this list, so a test asserts the wait the connector chose instead of
    spending it. Connector processes (the CLI tests) still sleep for real."""
    waits: list[float] = []
    monkeypatch.setattr(rate_limiting, "time", _RecordedSleep(waits))
    monkeypatch.setattr(backoff._sync, "time", _RecordedSleep(waits))
    return waits


@pytest.fixture(autouse=True, scope="session")
def component_schema_read_once() -> Iterator[None]:
    """Each declarative source the CDK builds re-reads its own component schema (a large YAML
    file parsed in pure Python: 0.35 s, most of an in-process sync); it never changes within a
    run, so tests read it once. The source still validates every manifest against it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            declarative_source_module,
            "get_declarative_component_schema",
            functools.cache(declarative_source_module.get_declarative_component_schema),
        )
        yield
