"""Test-wide settings: hypothesis profiles, and the fixtures every in-process sync relies on.

Pick a profile with `HYPOTHESIS_PROFILE` (`make test` uses `ci`): `ci` is derandomized and
bounded so the suite fits its time budget on two cores; `dev` explores more examples.
"""

from __future__ import annotations

import copy
import functools
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import airbyte_cdk.sources.declarative.concurrent_declarative_source as declarative_source_module
import backoff._sync
import orjson
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


class RecordedWaits(list[float]):
    """The retry waits asked for, in seconds, in order. A wait of no time makes the retry race
    the requests still on their way: a test whose API is overloaded until something happens
    (its refusals spent) sets `over` to say so, and each wait then lasts until it is true, as
    the real Retry-After would, or `OVERLOAD_DEADLINE` seconds, after which the retry goes and
    the test's own assertions tell what went wrong."""

    OVERLOAD_DEADLINE = 30.0
    over: Callable[[], bool] | None = None


class _RecordedSleep:
    """The `time` module as the CDK's and the `backoff` library's retry handlers see it: every
    attribute is the real one but `sleep`, which records the wait it was asked for instead."""

    def __init__(self, waits: RecordedWaits) -> None:
        self._waits = waits

    def sleep(self, seconds: float) -> None:
        if not seconds:  # `backoff` sleeps 0 around the CDK's own Retry-After wait: no wait at all
            return
        waits = self._waits
        waits.append(seconds)
        deadline = time.monotonic() + waits.OVERLOAD_DEADLINE
        while waits.over is not None and not waits.over() and time.monotonic() < deadline:
            time.sleep(0.005)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture(autouse=True)
def backoff_waits(monkeypatch: pytest.MonkeyPatch) -> RecordedWaits:
    """No test waits in real time for a retry. In this process the CDK's retry handlers
    (`rate_limiting`: Retry-After plus one second; `backoff`: exponential) only record each
    wait, in seconds, in this list, so a test asserts the wait the connector chose instead of
    spending it. Connector processes (the CLI tests) still sleep for real."""
    waits = RecordedWaits()
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


@pytest.fixture(autouse=True, scope="session")
def manifest_prepared_once() -> Iterator[None]:
    """Each declarative source the CDK builds resolves its manifest's `$ref`s, propagates types
    and parameters, then validates the result against the component schema: pure Python over
    the same manifest every time, a third of building a source, which the property tests do for
    every sync. Here each distinct manifest (by content) is prepared and validated once per
    process; a source gets its own copy, and a manifest that fails validation fails every time."""
    prepare = declarative_source_module.ConcurrentDeclarativeSource._pre_process_manifest
    validate = declarative_source_module.validate_manifest
    prepared: dict[bytes, dict[str, Any]] = {}
    valid: set[bytes] = set()

    def prepare_once(source: Any, manifest: dict[str, Any]) -> dict[str, Any]:
        key = orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS)
        if key not in prepared:
            prepared[key] = prepare(source, manifest)
        return copy.deepcopy(prepared[key])

    def validate_once(manifest: Any, schema: Any) -> None:
        key = orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS)
        if key not in valid:
            validate(manifest, schema)
            valid.add(key)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            declarative_source_module.ConcurrentDeclarativeSource,
            "_pre_process_manifest",
            prepare_once,
        )
        patch.setattr(declarative_source_module, "validate_manifest", validate_once)
        yield
