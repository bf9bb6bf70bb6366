"""A dlt source over the connector itself: `from source_chatnode.dlt import chatnode`.

Each resource runs the very declarative source the Airbyte platform runs (`manifest.yaml` and its
components) in this process, and turns its messages into dlt items: RECORD messages become rows,
STATE messages become the resource's dlt state, ERROR traces become the exception that fails the
pipeline. Nothing here speaks HTTP; the one implementation of the API is the manifest's.

    pipeline = dlt.pipeline("chatnode", destination="duckdb", dataset_name="chatnode")
    pipeline.run(chatnode(bot_ids=["aki56d7"]))  # api_key from secrets.toml or the environment

Only this module imports dlt, so `import source_chatnode` works without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import dlt
from dlt.common.schema.typing import TColumnSchema, TTableSchemaColumns
from dlt.extract import DltResource
from jsonschema import Draft7Validator


@contextmanager
def _root_logging_left_to_the_user() -> Iterator[None]:
    """airbyte-cdk, when first imported, points the root logger at stdout in Airbyte's JSON
    protocol (dropping the handlers already there), as a connector process needs. A dlt
    pipeline is no such process: the root logger keeps the user's handlers and not that one,
    and the CDK's own logs reach the user's handlers if any, else nowhere (its errors reach the
    user in the exception that fails the pipeline), not Python's last-resort stderr."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    try:
        yield
    finally:
        from source_chatnode.in_process import drop_protocol_log_handler

        root.handlers[:] = handlers
        drop_protocol_log_handler()
        logging.getLogger("airbyte").addHandler(logging.NullHandler())


with _root_logging_left_to_the_user():
    from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets

    from source_chatnode.in_process import (
        Checkpoint,
        ConnectorError,
        StreamDefinition,
        connector_config,
        connector_spec,
        read_stream,
        stream_definitions,
    )

LOGGER = logging.getLogger(__name__)
STATE_KEY = "airbyte_stream_state"
"""Where a resource's dlt state keeps the connector's state of its stream (one cursor per bot)."""
PAGE_SIZE = 1_000
"""Records handed to dlt at a time: dlt's cost is per item it is given, a list of rows being one
item; a page bounds the memory a read holds whatever the number of leads."""


class ChatNodeSyncError(RuntimeError):
    """A stream's read failed; the message carries the connector's own explanation of each
    error (a rejected key, a forbidden bot, a server that kept failing), without the key."""


@dlt.source(name="chatnode", section="chatnode")
def chatnode(
    api_key: str = dlt.secrets.value,
    bot_ids: list[str] = dlt.config.value,
    start_date: str | None = None,
    chats_batch_size: int = 100,
    base_url: str | None = None,
) -> Iterator[DltResource]:
    """The leads and chat messages of the bots in `bot_ids`, merged on their composite keys and
    read incrementally per bot from the second run on.

    `api_key` and `bot_ids` resolve like any dlt source's: `[sources.chatnode]` in
    `.dlt/secrets.toml` and `.dlt/config.toml`, or `SOURCES__CHATNODE__API_KEY` and
    `SOURCES__CHATNODE__BOT_IDS='["aki56d7"]'`. The options are those of the connector's spec.
    """
    # Registers the key with the CDK, which then masks it in everything it logs and raises.
    config = connector_config(
        options_config(api_key, bot_ids, start_date, chats_batch_size, base_url)
    )
    if problems := spec_violations(config, connector_spec()):
        raise ValueError(f"chatnode source options are not valid: {'; '.join(problems)}")
    for stream in stream_definitions():
        yield stream_resource(config, stream)


def options_config(
    api_key: str,
    bot_ids: Sequence[str],
    start_date: str | None,
    chats_batch_size: int,
    base_url: str | None,
) -> dict[str, Any]:
    """The connector's config from the source's arguments; a single bot id may be a string."""
    config: dict[str, Any] = {
        "api_key": api_key,
        "bot_ids": [bot_ids] if isinstance(bot_ids, str) else list(bot_ids),
        "chats_batch_size": chats_batch_size,
    }
    return config | {k: v for k, v in (("start_date", start_date), ("base_url", base_url)) if v}


def spec_violations(config: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    """Each way the options break the connector's spec, named by option, before any request
    is made; a value is masked when it is the key."""
    validator = Draft7Validator(spec)
    return [
        filter_secrets(f"{'.'.join(map(str, error.absolute_path)) or 'options'}: {error.message}")
        for error in sorted(validator.iter_errors(config), key=lambda error: error.json_path)
    ]


def stream_resource(config: Mapping[str, Any], stream: StreamDefinition) -> DltResource:
    """A merge resource of one stream, keyed and typed as the connector declares it."""
    primary_key = list(stream.primary_key)

    def connector_read() -> Iterator[list[dict[str, Any]]]:
        yield from stream_records(config, stream, dlt.current.resource_state())

    return dlt.resource(
        connector_read,
        name=stream.name,
        primary_key=primary_key,
        write_disposition="merge",
        columns=columns_from_json_schema(stream.schema, primary_key),
    )


def stream_records(
    config: Mapping[str, Any],
    stream: StreamDefinition,
    resource_state: dict[str, Any],
    page_size: int = PAGE_SIZE,
) -> Iterator[list[dict[str, Any]]]:
    """One incremental read of `stream`, from the connector state saved in `resource_state`.

    Each checkpoint is saved only after every record before it was handed to dlt, so the state
    never covers a record dlt has not got; dlt keeps it only when the whole extract succeeds.
    An error the connector reports raises once the read ends, so no bot's state from a failed
    run is kept.
    """
    page: list[dict[str, Any]] = []
    items = read_stream(
        config,
        stream,
        stream_state=resource_state.get(STATE_KEY),
        incremental=True,
        logger=LOGGER,
    )
    try:
        for item in items:
            if isinstance(item, Checkpoint):
                if page:
                    yield page
                    page = []
                resource_state[STATE_KEY] = item.stream_state
                continue
            page.append(plain_record(item))
            if len(page) >= page_size:
                yield page
                page = []
    except ConnectorError as exc:
        raise ChatNodeSyncError(failure_text(stream.name, str(exc))) from None
    if page:
        yield page


def plain_record(data: dict[str, Any]) -> dict[str, Any]:
    """A record as the Airbyte protocol serialises it. `created_at` is a `ParsedInstant` (a str
    that carries its parsed instant, components.py): dlt gets the plain string it stands for,
    whichever of its writers (orjson, simplejson, arrow) then serialises it."""
    created_at = data.get("created_at")
    if created_at is not None and type(created_at) is not str and isinstance(created_at, str):
        data["created_at"] = str(created_at)
    return data


def failure_text(stream: str, reasons: str) -> str:
    """The connector's explanations; raising them keeps dlt from committing the run."""
    return (
        f"ChatNode stream '{stream}' failed (no bot's cursor moves; the next run starts from the "
        f"last saved state): {reasons}"
    )


JSON_TYPES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "string": lambda schema: {"date-time": "timestamp", "date": "date"}.get(
        schema.get("format", ""), "text"
    ),
    "boolean": lambda _: "bool",
    "integer": lambda _: "bigint",
    "number": lambda _: "double",
    "object": lambda _: "json",
    "array": lambda _: "json",
}
"""A JSON schema type (and format) to its dlt data type; nested objects stay one JSON column."""


def columns_from_json_schema(
    schema: Mapping[str, Any], primary_key: Sequence[str]
) -> TTableSchemaColumns:
    """dlt column hints of the declared properties; undeclared extras (`additionalProperties`)
    still get columns of the types dlt infers from the data. Only the key is NOT NULL: the
    connector emits a record whatever it lacks, and so must the table take it."""
    columns: TTableSchemaColumns = {}
    for name, prop in schema.get("properties", {}).items():
        declared = prop.get("type", [])
        types = [declared] if isinstance(declared, str) else list(declared)
        non_null = [t for t in types if t != "null"]
        column: TColumnSchema = {"name": name}
        if len(non_null) == 1 and non_null[0] in JSON_TYPES:
            column["data_type"] = JSON_TYPES[non_null[0]](prop)  # type: ignore[typeddict-item]
        column["nullable"] = name not in primary_key
        if description := prop.get("description"):
            column["description"] = description
        columns[name] = column
    return columns
