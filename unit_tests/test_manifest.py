"""The manifest stays in step with the spec, and fits Airbyte's manifest-only runtime."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import chatnode_spec
from source_chatnode import components
from source_chatnode.run import declarative_source, load_manifest

COMPONENTS_PATH = Path(components.__file__)
ROOT = Path(__file__).resolve().parents[1]
SDM_PREFIX = "source_declarative_manifest.components."


def json_types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type", [])
    return {declared} if isinstance(declared, str) else set(declared)


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return load_manifest()


@pytest.fixture(scope="module")
def leads_schema(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["schemas"]["leads"]


def test_every_spec_property_is_in_the_stream_schema_with_a_null_tolerant_type(
    leads_schema: dict[str, Any],
) -> None:
    conversation = chatnode_spec.component_schema("Conversation")
    for name, spec_property in conversation["properties"].items():
        assert name in leads_schema["properties"], f"spec property {name} missing from the manifest"
        stream_property = leads_schema["properties"][name]
        spec_type = spec_property["type"]
        assert spec_type in json_types(stream_property), f"{name}: type drifted from the spec"
        if name not in conversation["required"]:
            assert "null" in json_types(stream_property), f"{name}: optional but not nullable"
        if spec_property.get("format"):
            assert stream_property.get("format") == spec_property["format"]


def test_stream_schema_requires_what_the_spec_requires_plus_bot_id(
    leads_schema: dict[str, Any],
) -> None:
    assert set(chatnode_spec.component_schema("Conversation")["required"]) <= set(
        leads_schema["required"]
    )
    assert set(leads_schema["required"]) - set(
        chatnode_spec.component_schema("Conversation")["required"]
    ) == {"bot_id"}
    assert leads_schema["properties"]["bot_id"]["type"] == "string"


def test_stream_schema_adds_nothing_but_bot_id_and_tolerates_unknown_fields(
    leads_schema: dict[str, Any],
) -> None:
    extra = set(leads_schema["properties"]) - set(
        chatnode_spec.component_schema("Conversation")["properties"]
    )
    assert extra == {"bot_id"}
    assert leads_schema["additionalProperties"] is True


def test_connection_spec_has_exactly_the_documented_options(manifest: dict[str, Any]) -> None:
    connection = manifest["spec"]["connection_specification"]
    assert set(connection["properties"]) == {"api_key", "bot_ids", "start_date", "base_url"}
    assert connection["required"] == ["api_key", "bot_ids"]
    assert connection["properties"]["api_key"]["airbyte_secret"] is True
    assert connection["properties"]["bot_ids"]["minItems"] == 1
    assert (
        connection["properties"]["base_url"]["default"]
        == chatnode_spec.api_document()["servers"][0]["url"]
    )
    orders = [option["order"] for option in connection["properties"].values()]
    assert sorted(orders) == list(range(len(orders)))


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2024-01-01T00:00:00Z", True),
        ("2024-01-01T00:00:00.5+02:00", True),
        ("2024-01-01T00:00:00.123456+00:00", True),
        ("2024-01-01", False),
        ("2024-01-01 00:00:00Z", False),
        ("2024-01-01T00:00:00", False),
    ],
)
def test_start_date_pattern_accepts_rfc3339_instants_only(
    manifest: dict[str, Any], value: str, valid: bool
) -> None:
    pattern = manifest["spec"]["connection_specification"]["properties"]["start_date"]["pattern"]
    assert bool(re.match(pattern, value)) is valid


def _class_names(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["class_name"]] if "class_name" in node else []
        return found + [name for value in node.values() for name in _class_names(value)]
    if isinstance(node, list):
        return [name for value in node for name in _class_names(value)]
    return []


def test_custom_classes_use_the_manifest_only_runtime_module_name(manifest: dict[str, Any]) -> None:
    class_names = _class_names(manifest)
    assert class_names, "the manifest is expected to use the streaming decoder"
    for class_name in class_names:
        assert class_name.startswith(SDM_PREFIX), class_name
        assert hasattr(components, class_name.removeprefix(SDM_PREFIX)), class_name


def test_components_import_only_what_the_manifest_only_image_has() -> None:
    allowed = {"airbyte_cdk", "requests", "orjson", *sys.stdlib_module_names}
    tree = ast.parse(COMPONENTS_PATH.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= allowed, (
        f"not available in source-declarative-manifest: {imported - allowed}"
    )


def test_manifest_validates_against_the_cdk_declarative_schema() -> None:
    config = {"api_key": "k", "bot_ids": ["a"]}
    streams = declarative_source(config=config).streams(config=config)
    assert [stream.name for stream in streams] == ["leads"]


@pytest.mark.parametrize("name", ["sample_config.json", "invalid_config.json"])
def test_committed_configs_are_valid_for_the_connection_spec(
    manifest: dict[str, Any], name: str
) -> None:
    """Even the invalid config is well-formed: it fails `check` on its key, not on its shape."""
    config = json.loads((ROOT / "integration_tests" / name).read_text(encoding="utf-8"))
    jsonschema.validate(config, manifest["spec"]["connection_specification"])


def test_a_config_without_bots_is_rejected_by_the_spec(manifest: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError, match=r"should be non-empty|is too short"):
        jsonschema.validate(
            {"api_key": "k", "bot_ids": []}, manifest["spec"]["connection_specification"]
        )


def test_connector_package_holds_only_what_ships_to_airbyte_users() -> None:
    """Test-kit code (the demo, the mock, the bench) lives outside what Airbyte users install."""
    shipped = {p.name for p in (ROOT / "source_chatnode").iterdir() if p.name != "__pycache__"}
    assert shipped <= {"__init__.py", "manifest.yaml", "components.py", "run.py", "builder"}
