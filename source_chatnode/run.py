"""Entry point of the `source-chatnode` CLI: spec, check, discover and read over `manifest.yaml`.

The manifest names its custom classes `source_declarative_manifest.components.*`, as Airbyte's
manifest-only runtime requires; here that name is pointed at this package's `components` module,
so the very same manifest runs under both.
"""

from __future__ import annotations

import copy
import sys
import warnings
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from airbyte_cdk.entrypoint import AirbyteEntrypoint, launch
from airbyte_cdk.models import AirbyteStateMessage, ConfiguredAirbyteCatalog
from airbyte_cdk.sources.declarative.concurrent_declarative_source import (
    ConcurrentDeclarativeSource,
)
from airbyte_cdk.utils.yaml_loader import safe_load_yaml

from source_chatnode import components

MANIFEST_PATH = Path(__file__).with_name("manifest.yaml")
_SDM_COMPONENTS_MODULE = "source_declarative_manifest.components"


def load_manifest() -> dict[str, Any]:
    """The declarative manifest, as the Airbyte platform would read it: a fresh copy each call,
    for the caller to change (tests build variants) without touching anyone else's."""
    return copy.deepcopy(_parsed_manifest())


@cache
def _parsed_manifest() -> dict[str, Any]:
    """`manifest.yaml` parsed once per process: YAML in pure Python costs a tenth of a second,
    and the adapters (dlt, Singer) and the tests build a source per stream read."""
    with MANIFEST_PATH.open(encoding="utf-8") as manifest_file:
        return safe_load_yaml(manifest_file)


def declarative_source(
    config: Mapping[str, Any] | None = None,
    catalog: ConfiguredAirbyteCatalog | None = None,
    state: list[AirbyteStateMessage] | None = None,
    config_path: str | None = None,
    manifest: Mapping[str, Any] | None = None,
) -> ConcurrentDeclarativeSource:
    """The source over `manifest.yaml` (or a variant of it, for tests), with this package
    standing in for the runtime's module.

    The declarative source needs config, catalog and state up front: the per-bot partitions come
    from the config and the per-bot cursors from the state.
    """
    sys.modules.setdefault(_SDM_COMPONENTS_MODULE, components)
    return ConcurrentDeclarativeSource(
        config=config,
        catalog=catalog,
        state=state,
        source_config=dict(manifest) if manifest is not None else load_manifest(),
        config_path=config_path,
    )


def create_source(args: Sequence[str]) -> ConcurrentDeclarativeSource:
    """Build the source with the config, catalog and state files named in `args`."""
    config_path = AirbyteEntrypoint.extract_config(list(args))
    catalog_path = AirbyteEntrypoint.extract_catalog(list(args))
    state_path = AirbyteEntrypoint.extract_state(list(args))
    return declarative_source(
        config=ConcurrentDeclarativeSource.read_config(config_path) if config_path else None,
        catalog=ConcurrentDeclarativeSource.read_catalog(catalog_path) if catalog_path else None,
        state=ConcurrentDeclarativeSource.read_state(state_path) if state_path else None,
        config_path=config_path,
    )


def show_warnings_on_stderr() -> None:
    """Print Python warnings on the process's real stderr, whatever `sys.stderr` is then.

    While it runs a command, the CDK's `launch` points `sys.stderr` at the buffer it prints
    Airbyte messages from, so a warning raised meanwhile (a CDK deprecation, a ResourceWarning,
    with `PYTHONWARNINGS=default` as Meltano sets it) would land on stdout as a non-JSON line and
    break the destination reading it. stdout carries only the Airbyte protocol.
    """

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: object = None,
        line: str | None = None,
    ) -> None:
        stderr = sys.__stderr__
        if stderr is not None:
            stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
            stderr.flush()

    warnings.showwarning = show


def run(args: Sequence[str] | None = None) -> None:
    """Console script `source-chatnode`."""
    argv = list(sys.argv[1:] if args is None else args)
    show_warnings_on_stderr()
    launch(create_source(argv), argv)


if __name__ == "__main__":
    run()
