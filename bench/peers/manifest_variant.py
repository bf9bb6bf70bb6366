"""`source-chatnode` over another manifest (the global cursor of issue #12): our entry point and
components, so the difference between its row and ours is the manifest's and nothing else's.

    python bench/peers/manifest_variant.py MANIFEST.yaml read --config CONFIG --catalog CATALOG
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from airbyte_cdk.entrypoint import AirbyteEntrypoint, launch
from airbyte_cdk.sources.declarative.concurrent_declarative_source import (
    ConcurrentDeclarativeSource as Source,
)

from source_chatnode.run import declarative_source


def main(manifest: str, *command: str) -> None:
    args = list(command)
    parsed = AirbyteEntrypoint.parse_args(args)
    config, catalog = parsed.config, parsed.catalog
    source = declarative_source(
        config=Source.read_config(config),
        catalog=Source.read_catalog(catalog),
        config_path=config,
        manifest=yaml.safe_load(Path(manifest).read_text(encoding="utf-8")),
    )
    launch(source, args)


if __name__ == "__main__":
    main(*sys.argv[1:])
