"""The declarative source driven in process, one stream at a time, for the platform adapters.

The dlt source (`dlt.py`) and the Singer tap (`singer/`) both run the very source the Airbyte
platform runs, through this module: it turns the connector's Airbyte messages into records,
checkpoints (the connector's per-bot state, emitted by the CDK only after the records it covers)
and one clear error, so no adapter interprets the API, or the protocol, itself. It imports only
airbyte-cdk, like the connector.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from queue import Empty, Queue
from typing import Any

from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteStateMessageSerializer,
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    Level,
    SyncMode,
    TraceType,
    Type,
)
from airbyte_cdk.test.catalog_builder import CatalogBuilder, ConfiguredAirbyteStreamBuilder
from airbyte_cdk.test.state_builder import StateBuilder
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets, get_secrets, update_secrets

from source_chatnode.run import declarative_source, load_manifest

LOGGER = logging.getLogger("airbyte")
_LOG_LEVELS = {
    Level.FATAL: logging.CRITICAL,
    Level.ERROR: logging.ERROR,
    Level.WARN: logging.WARNING,
    Level.INFO: logging.INFO,
    Level.DEBUG: logging.DEBUG,
    Level.TRACE: logging.DEBUG,
}


class ConnectorError(Exception):
    """The connector failed a read; the message is the connector's own (e.g. "ChatNode rejected
    the API key (401): check `api_key`"), secrets removed."""


@dataclass(frozen=True)
class StreamDefinition:
    """A stream as the connector declares it in discovery: the one source of schema and keys."""

    name: str
    schema: dict[str, Any]
    primary_key: tuple[str, ...]
    """Every column of the key: ("bot_id", "session_id") for leads, ("bot_id", "id") for chats."""
    cursor_field: str | None


@dataclass(frozen=True)
class Checkpoint:
    """The connector's state for the stream after the records read so far: per bot, its cursor."""

    stream_state: dict[str, Any]


def drop_protocol_log_handler() -> None:
    """Remove airbyte-cdk's root log handler, which writes Airbyte LOG messages to the real
    stdout (importing `airbyte_cdk.entrypoint` installs it): an adapter's stdout belongs to its
    platform (Singer messages, a dlt user's own output). Only that handler: others are the
    user's."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.StreamHandler) and handler.stream is PRINT_BUFFER:
            root.removeHandler(handler)


@cache
def connector_spec() -> dict[str, Any]:
    """`spec.connection_specification` of `manifest.yaml`: the one definition of the settings."""
    return load_manifest()["spec"]["connection_specification"]


def connector_settings() -> tuple[str, ...]:
    """The names the connector reads from its config; a platform may add its own (singer-sdk's
    stream_maps, ...), which the declarative source must not see."""
    return tuple(connector_spec()["properties"])


def connector_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The settings the connector's spec declares, without the platform's own; and every secret
    among them registered, so the CDK masks it in anything it logs."""
    own = {name: config[name] for name in connector_settings() if config.get(name) is not None}
    update_secrets(get_secrets(connector_spec(), own))
    return own


@cache
def stream_definitions() -> tuple[StreamDefinition, ...]:
    """The connector's streams as its `discover` declares them. They come from `manifest.yaml`
    alone (no request is sent, whatever the config), so they are read once per process: the CDK
    takes a good part of a second to build a source."""
    placeholder = {"api_key": "-", "bot_ids": ["-"]}
    catalog = declarative_source(config=placeholder).discover(LOGGER, placeholder)
    return tuple(_definition(stream) for stream in catalog.streams)


def _definition(stream: AirbyteStream) -> StreamDefinition:
    key = tuple(part for path in stream.source_defined_primary_key or [] for part in path)
    cursor = stream.default_cursor_field or []
    return StreamDefinition(
        name=stream.name,
        schema=dict(stream.json_schema),
        primary_key=key,
        cursor_field=cursor[0] if cursor else None,
    )


def configured_catalog(streams: Sequence[str], *, incremental: bool) -> ConfiguredAirbyteCatalog:
    """A catalog selecting `streams`, in that order, as the connector declares them (schema and
    primary key), built with the CDK's own `CatalogBuilder`: the one catalog builder of the
    adapters and the tests."""
    by_name = {definition.name: definition for definition in stream_definitions()}
    unknown = [name for name in streams if name not in by_name]
    if unknown:
        raise KeyError(f"the connector has no stream {unknown}")
    mode = SyncMode.incremental if incremental else SyncMode.full_refresh
    builder = CatalogBuilder()
    for name in streams:
        builder.with_stream(
            ConfiguredAirbyteStreamBuilder()
            .with_name(name)
            .with_sync_mode(mode)
            .with_json_schema(by_name[name].schema)
            .with_primary_key([[part] for part in by_name[name].primary_key])
        )
    return builder.build()


def read_stream(
    config: Mapping[str, Any],
    stream: StreamDefinition,
    *,
    stream_state: Mapping[str, Any] | None,
    incremental: bool,
    logger: logging.Logger,
) -> Iterator[dict[str, Any] | Checkpoint]:
    """Records of `stream` and, after them, the checkpoints that cover them.

    `stream_state` is a previous checkpoint's state (incremental only): the connector resumes
    each bot from its own cursor in it. Connector logs go to `logger`; a failure raises
    `ConnectorError` once the connector has emitted everything it read before failing.
    """
    own = connector_config(config)
    catalog = configured_catalog([stream.name], incremental=incremental)
    state = (
        StateBuilder().with_stream_state(stream.name, dict(stream_state)).build()
        if incremental and stream_state
        else []
    )
    source = declarative_source(config=own, catalog=catalog, state=state)
    errors: list[str] = []
    messages = source.read(logger, own, catalog, state)
    try:
        for message in messages:
            yield from _translate(message, logger, errors)
    except GeneratorExit:
        _stop_early(source, messages)
        raise
    except Exception as exc:
        raise ConnectorError(_failure(errors, exc)) from None
    if errors:
        raise ConnectorError(_failure(errors, None))


def _stop_early(source: Any, messages: Generator[AirbyteMessage, None, None]) -> None:
    """The reader stopped before the end (singer-sdk's record limit, as in `--test`): stop the
    CDK's worker threads, or the process would hang at exit on a worker blocked on the full queue.

    Pending work is cancelled and the queue drained by a daemon thread while running work ends.
    Those are CDK internals; if they ever move, the rest of the read is consumed instead (slow
    but it ends).
    """
    concurrent = getattr(source, "_concurrent_source", None)
    pool = getattr(getattr(concurrent, "_threadpool", None), "_threadpool", None)
    queue = getattr(concurrent, "_queue", None)
    if not (isinstance(pool, ThreadPoolExecutor) and isinstance(queue, Queue)):
        for _ in messages:
            pass
        return
    messages.close()
    pool.shutdown(wait=False, cancel_futures=True)
    threading.Thread(target=_discard_forever, args=(queue,), daemon=True).start()


def _discard_forever(queue: Queue[Any]) -> None:
    while True:
        try:
            queue.get(timeout=1)
        except Empty:
            continue


def _translate(
    message: AirbyteMessage, logger: logging.Logger, errors: list[str]
) -> Iterator[dict[str, Any] | Checkpoint]:
    if message.type is Type.RECORD and message.record is not None:
        yield dict(message.record.data)
    elif message.type is Type.STATE and message.state is not None:
        as_json = AirbyteStateMessageSerializer.dump(message.state)
        yield Checkpoint(dict(as_json["stream"]["stream_state"]))
    elif message.type is Type.LOG and message.log is not None:
        logger.log(
            _LOG_LEVELS.get(message.log.level, logging.INFO), filter_secrets(message.log.message)
        )
    elif (
        message.type is Type.TRACE
        and message.trace is not None
        and message.trace.type is TraceType.ERROR
        and message.trace.error is not None
    ):
        error = message.trace.error
        errors.append(filter_secrets(error.message or error.internal_message or "unknown error"))
        if error.internal_message:
            logger.debug("connector error detail: %s", filter_secrets(error.internal_message))


def _failure(errors: list[str], exc: Exception | None) -> str:
    """The connector's own messages, once each, in order; the exception only when it said none."""
    messages = list(dict.fromkeys(errors))
    if not messages and exc is not None:
        messages = [filter_secrets(str(exc)) or type(exc).__name__]
    return "; ".join(messages)
