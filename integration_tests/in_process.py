"""Runs the connector in this process through airbyte-cdk's entrypoint, for the property tests.

A CLI process per sync costs about a second; in process a sync against the local mock costs a
tenth of that, which is what lets hypothesis afford hundreds of syncs. The entrypoint is the same
one the CLI uses: config, catalog and state go in as files, and what comes out are the Airbyte
messages, in order.

`CHATNODE_MANIFEST_UNDER_TEST=/path/to/manifest.yaml` runs another manifest instead of
`source_chatnode/manifest.yaml` (with the same custom components): the mutation check uses it
to show that each property fails against a deliberately broken connector.

`run_sync` reads one stream (`leads` or `chats`) and keys its records by the stream's primary
key; `read_streams` reads several at once, for the tests about how one stream's failure leaves
another.

`run_entrypoint` runs one command (`check`, `discover`, `read`) of any source the way its console
script would, from input files, and reports it as a `ConnectorRun`, as a process's output is:
the tests of `check`, of the Cloud edition and of the manifest-only runtime share it.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.cli.source_declarative_manifest._run import create_declarative_source
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import AirbyteMessage, AirbyteStateMessageSerializer, Type
from airbyte_cdk.sources import Source
from airbyte_cdk.sources.declarative.concurrent_declarative_source import (
    ConcurrentDeclarativeSource,
)
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from airbyte_cdk.test.models.outcome import ExpectedOutcome
from airbyte_cdk.utils.yaml_loader import safe_load_yaml

from integration_tests.connector_runner import (
    ConnectorRun,
    command_line,
    connector_config,
    primary_key,
)
from mock_server.server import MockServer
from source_chatnode.in_process import configured_catalog
from source_chatnode.run import declarative_source

MANIFEST_UNDER_TEST_ENV = "CHATNODE_MANIFEST_UNDER_TEST"

Key = tuple[str, str]
"""A record's primary key: (bot_id, session_id) for a lead, (bot_id, id) for a chat message."""


@dataclass(frozen=True)
class Checkpoint:
    """One state message of a sync, and how many records the sync had emitted before it.

    A destination commits records up to a checkpoint; a sync that dies after it restarts there.
    """

    records_before: int
    message: Mapping[str, Any]
    """The state message as JSON, as the platform stores it for the next sync."""

    @property
    def stream_state(self) -> Mapping[str, Any]:
        return self.message["stream"]["stream_state"]

    @property
    def cursors(self) -> dict[str, datetime]:
        """Each bot's cursor instant, from the per-bot entries of the state."""
        return {
            entry["partition"]["bot_id"]: datetime.fromisoformat(entry["cursor"]["created_at"])
            for entry in self.stream_state.get("states", [])
        }


@dataclass
class SyncResult:
    """What one `read` emitted: records (top-level nulls dropped, as serialized), checkpoints in
    order, and the messages of error traces."""

    records: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    primary_key: tuple[str, str] = ("bot_id", "session_id")
    """The fields of the stream's primary key, as the configured catalog declares them."""

    @property
    def keys(self) -> list[Key]:
        """Primary keys of the records in emission order (duplicates kept, to be caught)."""
        bot_field, own_field = self.primary_key
        return [(_key_part(r.get(bot_field)), _key_part(r.get(own_field))) for r in self.records]

    def keys_before(self, checkpoint: Checkpoint) -> set[Key]:
        return set(self.keys[: checkpoint.records_before])

    @property
    def final_state(self) -> list[Mapping[str, Any]] | None:
        """The state file for the next sync: the last checkpoint, as Airbyte keeps it."""
        return [self.checkpoints[-1].message] if self.checkpoints else None

    @property
    def cursors(self) -> dict[str, datetime]:
        return self.checkpoints[-1].cursors if self.checkpoints else {}


def _key_part(value: Any) -> str:
    """A key field as emitted; a non-string one (a bug) becomes a label no lead's key can equal,
    so the comparison reports it instead of tripping over an unhashable value."""
    return value if isinstance(value, str) else f"<not a string: {json.dumps(value)}>"


def build_source(
    config: Mapping[str, Any],
    catalog: Any,
    state: list[Any],
) -> ConcurrentDeclarativeSource:
    """The source under test: the shipped manifest, or the one named by the environment."""
    alternative = os.environ.get(MANIFEST_UNDER_TEST_ENV)
    manifest = None
    if alternative:
        with Path(alternative).open(encoding="utf-8") as manifest_file:
            manifest = safe_load_yaml(manifest_file)
    return declarative_source(config=config, catalog=catalog, state=state, manifest=manifest)


def read_streams(
    server: MockServer,
    bot_ids: Sequence[str],
    streams: Sequence[str],
    *,
    sync_mode: str = "incremental",
    state: Sequence[Mapping[str, Any]] | None = None,
    **options: Any,
) -> EntrypointOutput:
    """One `read` of `streams` against `server`, as the CDK's test entrypoint reports it: every
    message, errors with the stream they belong to."""
    config = connector_config(server.base_url, server.api_key, bot_ids, **options)
    catalog = configured_catalog(streams, incremental=sync_mode == "incremental")
    state_messages = [AirbyteStateMessageSerializer.load(dict(m)) for m in state or []]
    return read(
        build_source(config, catalog, state_messages),
        config,
        catalog,
        state_messages,
        expected_outcome=ExpectedOutcome.ALLOW_ANY,
    )


def run_sync(
    server: MockServer,
    bot_ids: Sequence[str],
    *,
    stream: str = "leads",
    sync_mode: str = "incremental",
    state: Sequence[Mapping[str, Any]] | None = None,
    **options: Any,
) -> SyncResult:
    """One `read` of `stream` against `server`, starting from `state` when given; `options` go
    into the config (`start_date`, `chats_batch_size`)."""
    output = read_streams(server, bot_ids, (stream,), sync_mode=sync_mode, state=state, **options)
    key = primary_key(stream)
    if len(key) != 2:
        raise ValueError(f"stream {stream!r} has primary key {key}, not (bot_id, its own id)")
    return _collect(output.records_and_state_messages, output.errors, (key[0], key[1]))


def _collect(
    ordered: Sequence[AirbyteMessage],
    errors: Sequence[AirbyteMessage],
    key_fields: tuple[str, str],
) -> SyncResult:
    result = SyncResult(primary_key=key_fields)
    for message in ordered:
        if message.type is Type.RECORD and message.record is not None:
            result.records.append(dict(message.record.data))
        elif message.type is Type.STATE and message.state is not None:
            as_json = AirbyteStateMessageSerializer.dump(message.state)
            result.checkpoints.append(Checkpoint(len(result.records), as_json))
    result.errors = [
        message.trace.error.message
        for message in errors
        if message.trace is not None and message.trace.error is not None
    ]
    return result


def run_entrypoint(
    create_source: Callable[[list[str]], Source],
    command: str,
    workdir: Path,
    **inputs: Any,
) -> ConnectorRun:
    """One command in this process, as a console script runs it: `inputs` (config, catalog,
    state) written to files in `workdir`, the source built from the command line by
    `create_source`, then the CDK's entrypoint. Its messages are the run's stdout; an exception
    out of the entrypoint is what makes a process exit non-zero, so it is the return code."""
    args = command_line(command, workdir, **inputs)
    entrypoint = AirbyteEntrypoint(create_source(args))
    printed: list[str] = []
    failure = ""
    try:
        for line in entrypoint.run(entrypoint.parse_args(args)):
            printed.append(line)
    except Exception as error:  # a process would exit non-zero: so does the run
        failure = repr(error)
    messages = [json.loads(line) for line in printed]
    return ConnectorRun(int(bool(failure)), "\n".join(printed), failure, messages)


OURS = ("source_chatnode", "mock_server")
"""Our packages: none of them is in the manifest-only runtime's image."""
COMPONENTS_MODULES = ("components", "source_declarative_manifest.components")
"""Where the runtime registers `components.py` once it has loaded it."""


@contextmanager
def manifest_only_runtime(custom_code: bool) -> Iterator[None]:
    """As in `source-declarative-manifest`'s image: our packages unimportable (a `None` in
    `sys.modules` makes `import` raise ImportError, also for what is already imported), custom
    code allowed or, as on Airbyte Cloud, refused. On the way out, everything as it was, the
    runtime's `components` module gone."""
    touched = [*OURS, *COMPONENTS_MODULES]
    touched += [name for name in sys.modules if name.partition(".")[0] in OURS]
    saved = {name: sys.modules[name] for name in touched if name in sys.modules}
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AIRBYTE_ENABLE_UNSAFE_CODE", str(custom_code).lower())
            sys.modules.update(dict.fromkeys(n for n in touched if n.partition(".")[0] in OURS))
            yield
    finally:
        for name in touched:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


def run_in_manifest_only_runtime(
    command: str,
    workdir: Path,
    manifest: Path,
    components: Path | None = None,
    **inputs: Any,
) -> ConnectorRun:
    """One command of `source-declarative-manifest` in this process: the source built as the
    runtime builds it (`create_declarative_source`: the manifest injected from `--manifest-path`,
    custom code from `--components-path`, allowed only with one), in `manifest_only_runtime`.
    It raises no warning: the runtime prints a warning raised while a command runs onto stdout,
    where a destination reading protocol messages would choke on it (test_protocol_stdout.py)."""
    paths = ["--manifest-path", str(manifest)]
    if components is not None:
        paths += ["--components-path", str(components)]
    with (
        manifest_only_runtime(custom_code=components is not None),
        warnings.catch_warnings(record=True) as raised,
    ):
        warnings.simplefilter("always")
        run = run_entrypoint(
            lambda args: create_declarative_source([*args, *paths]), command, workdir, **inputs
        )
    # A ResourceWarning comes from collecting some earlier test's socket, not from this run.
    shown = [str(w.message) for w in raised if not issubclass(w.category, ResourceWarning)]
    assert not shown, f"source-declarative-manifest {command} raised warnings: {shown}"
    return run
