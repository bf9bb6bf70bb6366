"""The tap's settings: the connector spec's own JSON schema, with singer-sdk's secret markers."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from source_chatnode.run import load_manifest


@cache
def connector_spec() -> dict[str, Any]:
    """`spec.connection_specification` of `manifest.yaml`: the one definition of the settings."""
    return load_manifest()["spec"]["connection_specification"]


def connector_settings() -> tuple[str, ...]:
    """The names the connector reads from its config; singer-sdk adds its own (stream_maps, ...),
    which the declarative source must not see."""
    return tuple(connector_spec()["properties"])


def tap_config_schema() -> dict[str, Any]:
    """The spec as singer-sdk's `config_jsonschema`.

    Airbyte marks a secret with `airbyte_secret`; singer-sdk and Meltano read `secret` and
    `writeOnly` (JSON Schema's own word for it) to keep the value out of `--about` and logs.
    """
    schema = copy.deepcopy(connector_spec())
    for setting in schema["properties"].values():
        if setting.get("airbyte_secret"):
            setting["secret"] = True
            setting["writeOnly"] = True
    return schema
