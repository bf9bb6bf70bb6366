"""Generates the Airbyte Cloud edition of the connector from the main manifest.

Airbyte Cloud runs no custom Python components in custom connectors, so the main manifest, which
uses them where YAML is too slow or too loose, cannot be imported there. This module turns
`source_chatnode/manifest.yaml` into `source_chatnode/builder/manifest.yaml`, a pure-YAML edition,
by replacing every custom component with its stock stand-in from one table, `STAND_INS`. The
edition is generated, never edited: `make test` fails while the committed file is out of date.

    python tools/cloud_edition.py          # (re)write the edition
    python tools/cloud_edition.py --check  # exit 1 if the committed edition is out of date
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from airbyte_cdk.sources.declarative.concurrent_declarative_source import (
    ConcurrentDeclarativeSource,
)
from airbyte_cdk.sources.declarative.parsers.manifest_reference_resolver import (
    ManifestReferenceResolver,
)

ROOT = Path(__file__).resolve().parents[1]
MAIN_MANIFEST = ROOT / "source_chatnode" / "manifest.yaml"
CLOUD_EDITION = ROOT / "source_chatnode" / "builder" / "manifest.yaml"
REGENERATE_COMMAND = "make cloud-edition"

Component = dict[str, Any]

BOT_PARTITION_BOT_ID = "stream_partition.bot_id"
SESSION_PARTITION_BOT_ID = "stream_partition.parent_slice.bot_id"
"""The bot of a partition per session: the partition of the parent (leads) record it came from."""


class UnmappedComponentError(ValueError):
    """The main manifest uses a custom component that `STAND_INS` has no stock stand-in for."""


class StandInError(ValueError):
    """A stand-in cannot be placed, because the manifest around the component is not as expected."""


@dataclass(frozen=True)
class Site:
    """Where a custom component sits: the components that enclose it, outermost first."""

    ancestors: tuple[Component, ...]

    def enclosing(self, key: str, what: str) -> Component:
        """The nearest enclosing component that has `key`."""
        for ancestor in reversed(self.ancestors):
            if key in ancestor:
                return ancestor
        raise StandInError(f"no enclosing {what} (a component with `{key}`)")

    @property
    def stream(self) -> Component:
        for ancestor in reversed(self.ancestors):
            if ancestor.get("type") == "DeclarativeStream":
                return ancestor
        raise StandInError("the component is not inside a DeclarativeStream")

    def bot_id_in_partition(self) -> str:
        """Where the stream's partition holds the bot id: at its top for a partition per bot,
        under `parent_slice` for a partition per session of a bot (the edition's chats)."""
        retriever = self.stream.get("retriever")
        if not isinstance(retriever, dict) or is_custom(retriever):
            raise StandInError("the stream's retriever must have its stand-in first")
        router = retriever.get("partition_router") or {}
        if router.get("type") == "SubstreamPartitionRouter":
            return SESSION_PARTITION_BOT_ID
        return BOT_PARTITION_BOT_ID

    def datetime_cursor(self) -> Component:
        """The `DatetimeBasedCursor` of the component's stream."""
        cursor = self.stream.get("incremental_sync")
        if not isinstance(cursor, dict) or cursor.get("type") != "DatetimeBasedCursor":
            raise StandInError(f"stream {self.stream.get('name')!r} has no DatetimeBasedCursor")
        return cursor


@dataclass(frozen=True)
class StandIn:
    """The stock YAML that replaces one custom component, and what the edition loses by it."""

    build: Callable[[Component, Site], Component | None]
    """Returns the replacing component, or None to drop it; may adjust the component's stream."""
    stock: str
    """What replaces it, in words (the edition's header lists it)."""
    gives_up: str


# With the stock decoder a body that is not JSON parses to {} and an object to one record: zero or
# wrong records and a green sync. This filter fails any response whose parsed body is not a JSON
# array of objects. Last in the list, because it also matches every JSON error body: placed before
# the 403 filter it would take the 403 and lose the bot's name from the message.
def malformed_body_filter(record: str) -> Component:
    """The filter for an array of `record`s (`lead`, `message`), worded as the main edition's
    `MalformedResponse`."""
    return {
        "type": "HttpResponseFilter",
        "action": "FAIL",
        "failure_type": "system_error",
        "predicate": (
            "{{ response is string or response is not iterable or response is mapping"
            " or response | reject('mapping') | list | length > 0 }}"
        ),
        "error_message": (
            f"ChatNode returned a malformed {record}s response from {{{{ request_url }}}}: the body"
            f" is not a JSON array of {record} objects. The sync stopped so that no {record} is"
            " lost silently; retry later, and contact ChatNode support if it persists."
        ),
    }


PARSED_INSTANT_FORMAT = "%epoch_microseconds"
"""The cursor format only `ParseCreatedAtOnce`'s parsed strings satisfy."""


def json_decoder_failing_on_malformed_bodies(component: Component, site: Site) -> Component:
    """The stock decoder, with the loud failure on a malformed body moved to the error handler."""
    retriever = site.enclosing("requester", "retriever")
    handler = retriever["requester"].get("error_handler")
    if not isinstance(handler, dict) or handler.get("type") != "DefaultErrorHandler":
        raise StandInError("the malformed-body filter needs the requester's DefaultErrorHandler")
    filters = handler.setdefault("response_filters", [])
    record = component.get("record")
    if not isinstance(record, str) or not record:
        raise StandInError("an ObjectArrayDecoder must name what its array holds (`record:`)")
    malformed = malformed_body_filter(record)
    if malformed not in filters:
        filters.append(malformed)
    return {"type": "JsonDecoder"}


def client_side_cursor_filter(component: Component, site: Site) -> Component | None:
    """The cursor's own filter keeps the same inclusive window; it parses each record's timestamp.
    A `condition` another stand-in gave the filter stays, in a stock RecordFilter."""
    site.datetime_cursor()["is_client_side_incremental"] = True
    condition = component.get("condition")
    return {"type": "RecordFilter", "condition": condition} if condition else None


def add_bot_id_field(component: Component, site: Site) -> Component:
    """The same field from the same partition, rendered by Jinja per record."""
    return {
        "type": "AddFields",
        "fields": [
            {
                "type": "AddedFieldDefinition",
                "path": ["bot_id"],
                "value": f"{{{{ {site.bot_id_in_partition()} }}}}",
                # Without it a numeric-looking bot id ("12345") would become an integer.
                "value_type": "string",
            }
        ],
    }


def cursor_parses_created_at_itself(component: Component, site: Site) -> None:
    """No pre-parsing: the cursor's RFC 3339 formats read created_at, so the format only parsed
    strings satisfy goes."""
    cursor = site.datetime_cursor()
    formats = [f for f in cursor.get("cursor_datetime_formats", []) if f != PARSED_INSTANT_FORMAT]
    if formats:
        cursor["cursor_datetime_formats"] = formats
    else:
        cursor.pop("cursor_datetime_formats", None)


def keep_the_cdk_fallback_cursor(component: Component, site: Site) -> None:
    """Stock YAML cannot edit incoming state: the CDK's per-partition state stays as it is."""
    return None


CHECK_PROBE_SETTINGS = ("probe", "connect_timeout_in_seconds", "read_timeout_in_seconds")
"""The settings of `ConnectionCheckingRetriever`'s own job, which no stock retriever has."""


def unwrap_retriever(component: Component, site: Site) -> Component:
    """A wrapper that only speeds up its nested SimpleRetriever: that retriever alone, with the
    wrapper's own settings (its partition router) moved onto it."""
    inner = component.get("retriever")
    if not isinstance(inner, dict):
        raise StandInError("the wrapping retriever has no nested `retriever` to unwrap")
    outer = {k: v for k, v in component.items() if k not in ("type", "class_name", "retriever")}
    return {**inner, **outer}


def stock_check_reads_the_first_bot(component: Component, site: Site) -> Component:
    """The leads retriever without its check probe: the stock check reads the first bot's leads
    (with no retries: the error handler reads `connection_check`)."""
    return unwrap_retriever(
        {k: v for k, v in component.items() if k not in CHECK_PROBE_SETTINGS}, site
    )


ONE_SESSION_BODY = " \n [{{ stream_partition.session_id | tojson }}]"
"""A JSON array of the partition's one session id. The leading space-newline-space is JSON
whitespace that keeps the CDK from reading the rendered text as a Python list, which it would drop,
sending no body (ChatNode answers no body with recent conversations, not this one)."""

ONLY_THE_ASKED_SESSION = "{{ record.session_id == stream_partition.session_id }}"
"""A message of another session would repeat one, or cross bots: the main edition drops it too."""


def one_request_per_session(component: Component, site: Site) -> Component:
    """The chats retriever, partitioned by the bots' leads: one partition, and one request, per
    session, all under one stream cursor.

    Stock YAML cannot batch the sessions of one bot (a `GroupingPartitionRouter` mixes bots in a
    batch), so each request carries one session id. The parent is the `sessions` retriever under
    the bot partitions, with no cursor: every sync asks for every session of every bot, so a
    message added to an old conversation is still read. The stream's cursor becomes global (one
    value, rewound by the last sync's duration): a cursor per session would grow the state with
    every lead, and the CDK turns it global past 10,000 sessions anyway; a cursor per bot is not
    expressible, the bot being the parent's partition.
    """
    try:
        sessions, chats, bots = (
            component["sessions"],
            component["chats"],
            component["partition_router"],
        )
    except KeyError as missing:
        raise StandInError(f"the session batch retriever has no {missing}") from None
    requester = chats.get("requester")
    if not isinstance(requester, dict) or BOT_PARTITION_BOT_ID not in str(requester.get("url")):
        raise StandInError(f"the chats requester's url does not name `{BOT_PARTITION_BOT_ID}`")
    body = requester.get("request_body")
    if not isinstance(body, dict) or body.get("type") != "RequestBodyPlainText":
        raise StandInError(
            "the chats requester has no `request_body` of type RequestBodyPlainText to carry "
            "the session (a JSON object body cannot be the top-level array ChatNode takes)"
        )
    parent = {  # read for its session ids only: none of its records is emitted
        "type": "DeclarativeStream",
        "name": "leads",
        "retriever": {**sessions, "partition_router": bots},
    }
    selector = dict(chats.get("record_selector") or {"type": "RecordSelector"})
    window = selector.get("record_filter") or {"type": "RecordFilter"}
    selector["record_filter"] = {**window, "condition": ONLY_THE_ASKED_SESSION}
    site.datetime_cursor()["global_substream_cursor"] = True
    return {
        **chats,
        "record_selector": selector,
        "requester": {
            **requester,
            "url": requester["url"].replace(BOT_PARTITION_BOT_ID, SESSION_PARTITION_BOT_ID),
            "request_body": {**body, "value": ONE_SESSION_BODY},
        },
        "partition_router": {
            "type": "SubstreamPartitionRouter",
            "parent_stream_configs": [
                {
                    "type": "ParentStreamConfig",
                    "stream": parent,
                    "parent_key": "session_id",
                    "partition_field": "session_id",
                }
            ],
        },
    }


STAND_INS: Mapping[str, StandIn] = {
    "ObjectArrayDecoder": StandIn(
        json_decoder_failing_on_malformed_bodies,
        stock="JsonDecoder, plus a last HttpResponseFilter that fails a body that is not a JSON "
        "array of objects (worded for its records: leads or messages)",
        gives_up="flat memory: the whole body is held, and parsed twice (decoder and filter)",
    ),
    "CreatedAtWindowFilter": StandIn(
        client_side_cursor_filter,
        stock="the cursor's own client-side filter (is_client_side_incremental: true)",
        gives_up="speed: the window check parses each lead's timestamp again",
    ),
    "AddBotId": StandIn(
        add_bot_id_field,
        stock="AddFields with the partition's bot id: {{ stream_partition.bot_id }}, in chats "
        "{{ stream_partition.parent_slice.bot_id }}",
        gives_up="speed: one Jinja rendering per record",
    ),
    "ParseCreatedAtOnce": StandIn(
        cursor_parses_created_at_itself,
        stock=f"nothing: the cursor parses created_at with its formats, less {PARSED_INSTANT_FORMAT}",
        gives_up="speed (strptime over the cursor formats, several times per lead); lenient "
        "timestamps (one without offset, with a space for T or over 6 fraction digits makes "
        "its lead undated); a created_at that is not a string is emitted as is, not as text",
    ),
    "PerBotStateMigration": StandIn(
        keep_the_cdk_fallback_cursor,
        stock="nothing: the CDK's per-partition state keeps its all-bots fallback cursor",
        gives_up="the history of a bot added later: it starts at the other bots' newest cursor "
        "(refresh the stream to read it)",
    ),
    "ConnectionCheckingRetriever": StandIn(
        stock_check_reads_the_first_bot,
        stock="the SimpleRetriever it wraps, with the wrapper's partition router; `check` is the "
        "stock CheckStream, which reads the first bot's leads (no retries)",
        gives_up="a check of every bot (only the first is read: a forbidden later bot fails the "
        "first sync, not the check), the check's plain message on an unreachable base_url, and "
        "a cheap check (the first bot's whole lead list is downloaded)",
    ),
    "CachedSliceHashRetriever": StandIn(
        unwrap_retriever,
        stock="the SimpleRetriever it wraps, with the wrapper's partition router",
        gives_up="speed: slices re-hash their partition on every use",
    ),
    "SessionBatchRetriever": StandIn(
        one_request_per_session,
        stock="a SimpleRetriever under a SubstreamPartitionRouter whose parent reads every lead of "
        "each bot: one chats request per session (chats_batch_size is ignored), one cursor for the "
        "stream (global_substream_cursor)",
        gives_up="batches (one request per session, plus one leads request per bot, every sync); "
        "per-bot state (a bot added later, or one a failed sync did not reach after another bot's "
        "leads failed, starts at the stream's newest message: refresh the stream); the warning "
        "counting messages of sessions not asked for (they are still dropped)",
    ),
}


def is_custom(component: Component) -> bool:
    return "class_name" in component or str(component.get("type", "")).startswith("Custom")


def custom_class_name(component: Component) -> str:
    """`source_declarative_manifest.components.AddBotId` -> `AddBotId`."""
    return str(component.get("class_name") or component.get("type")).rsplit(".", 1)[-1]


def custom_components(node: Any) -> Iterator[str]:
    """The class names of the custom components anywhere in `node`, outermost first."""
    if isinstance(node, dict):
        if is_custom(node):
            yield custom_class_name(node)
        for value in node.values():
            yield from custom_components(value)
    elif isinstance(node, list):
        for item in node:
            yield from custom_components(item)


_DROP = object()


def _stand_in(node: Any, ancestors: tuple[Component, ...], where: str) -> Any:
    """`node` with every custom component in it replaced by its stand-in, or `_DROP`."""
    if isinstance(node, list):
        kept = [_stand_in(item, ancestors, f"{where}[{i}]") for i, item in enumerate(node)]
        kept = [item for item in kept if item is not _DROP]
        return _DROP if node and not kept else kept
    if not isinstance(node, dict):
        return node
    while is_custom(node):
        name = custom_class_name(node)
        if name not in STAND_INS:
            raise UnmappedComponentError(
                f"custom component {name} at {where} has no stock stand-in: add one to STAND_INS "
                "in tools/cloud_edition.py, or leave it out of the Cloud edition on purpose"
            )
        try:
            replaced = STAND_INS[name].build(node, Site(ancestors))
        except StandInError as error:
            raise StandInError(f"cannot replace {name} at {where}: {error}") from error
        if replaced is None:
            return _DROP
        node = replaced
    inside = (*ancestors, node)
    # A stream's retriever first: its stand-in decides the partitions the others' stand-ins read.
    for key in sorted(node, key=lambda key: key != "retriever"):
        value = _stand_in(node[key], inside, f"{where}.{key}")
        if value is _DROP:
            del node[key]
        else:
            node[key] = value
    return node


def cloud_edition(main: Mapping[str, Any]) -> dict[str, Any]:
    """The Cloud edition of a main manifest: references resolved, custom components replaced.

    References are resolved first so that each stream owns its components: a stand-in that adjusts
    its stream (the cursor, the error handler) never reaches into another stream's.
    """
    resolved = ManifestReferenceResolver().preprocess_manifest(copy.deepcopy(dict(main)))
    edition = {k: v for k, v in resolved.items() if k not in ("definitions", "schemas")}
    edition = _stand_in(edition, (), "manifest")
    left = list(custom_components(edition))
    if left:
        raise UnmappedComponentError(f"custom components left in the Cloud edition: {left}")
    edition["description"] = (
        f"{str(main.get('description', '')).strip()} Airbyte Cloud edition: pure YAML, generated "
        "from the main manifest, with no custom components."
    ).strip()
    return edition


def validate(edition: Mapping[str, Any]) -> None:
    """Fails unless the CDK accepts the edition: its declarative schema, and its component build."""
    try:
        ConcurrentDeclarativeSource(
            source_config=copy.deepcopy(dict(edition)), config=None, catalog=None, state=None
        )
    except Exception as error:
        cause = f": {error.__cause__}" if error.__cause__ else ""
        raise ValueError(f"the Cloud edition is not a valid manifest: {error}{cause}") from error


def header(main: Mapping[str, Any]) -> str:
    replaced = [name for name in STAND_INS if name in set(custom_components(main))]
    lines = [
        "GENERATED from source_chatnode/manifest.yaml by tools/cloud_edition.py: do not edit.",
        f"Regenerate with `{REGENERATE_COMMAND}`; `make test` fails while this file is stale.",
        "",
        "The Airbyte Cloud edition of source-chatnode: pure YAML, no custom Python components.",
        "Import it in the Connector Builder (Import a YAML), then publish it to the workspace.",
        "Which edition fits which platform, and what this one gives up: docs/cloud-edition.md.",
        "",
        "Custom components of the main manifest, and their stand-ins here:",
        *(
            line
            for name in replaced
            for line in (
                f"  {name}: {STAND_INS[name].stock}",
                f"    gives up {STAND_INS[name].gives_up}",
            )
        ),
    ]
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


class _EditionDumper(yaml.SafeDumper):
    """Block style with indented lists, as the main manifest is written; long strings folded."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if len(value) > 80 and "\n" not in value:
        style: str | None = ">"
    elif "'" in value:
        style = '"'
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_EditionDumper.add_representer(str, _represent_str)


def render(main: Mapping[str, Any]) -> str:
    """The edition's file content: header, then the validated YAML."""
    edition = cloud_edition(main)
    validate(edition)
    body = yaml.dump(edition, Dumper=_EditionDumper, sort_keys=False, allow_unicode=True, width=100)
    return f"{header(main)}\n{body}"


def load_manifest(path: Path = MAIN_MANIFEST) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate source_chatnode/builder/manifest.yaml, the Airbyte Cloud edition "
        "(pure YAML, no custom components), from source_chatnode/manifest.yaml."
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the committed edition differs from a fresh generation",
    )
    args = parser.parse_args(argv)
    text = render(load_manifest())
    relative = CLOUD_EDITION.relative_to(ROOT)
    if args.check:
        current = CLOUD_EDITION.read_text(encoding="utf-8") if CLOUD_EDITION.exists() else ""
        if current != text:
            print(f"{relative} is out of date: run `{REGENERATE_COMMAND}`", file=sys.stderr)
            return 1
        print(f"{relative} is up to date")
        return 0
    CLOUD_EDITION.parent.mkdir(parents=True, exist_ok=True)
    CLOUD_EDITION.write_text(text, encoding="utf-8")
    print(f"wrote {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
