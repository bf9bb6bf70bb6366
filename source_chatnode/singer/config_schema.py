"""The tap's settings: the connector spec's own JSON schema, with singer-sdk's secret markers."""

from __future__ import annotations

import copy
from typing import Any

from source_chatnode.in_process import connector_spec


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
