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
from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.declarative.models.declarative_component_schema import (
    DefaultErrorHandler as DefaultErrorHandlerModel,
)
from airbyte_cdk.sources.declarative.parsers.model_to_component_factory import (
    ModelToComponentFactory,
)

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


STREAM_SPEC_SCHEMAS = {"leads": "Conversation", "chats": "Chat"}
"""Each stream and the spec schema of the records its endpoint returns."""


@pytest.fixture(scope="module", params=sorted(STREAM_SPEC_SCHEMAS))
def stream_schemas(
    request: pytest.FixtureRequest, manifest: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the stream's schema in the manifest, the spec's schema of what the API returns)."""
    stream = request.param
    return manifest["schemas"][stream], chatnode_spec.component_schema(STREAM_SPEC_SCHEMAS[stream])


def test_every_stream_has_its_spec_schema(manifest: dict[str, Any]) -> None:
    assert set(manifest["schemas"]) == set(STREAM_SPEC_SCHEMAS)
    for stream in manifest["streams"]:
        assert stream["schema_loader"]["schema"]["$ref"] == f"#/schemas/{stream['name']}"


def test_every_spec_property_is_in_the_stream_schema_with_a_null_tolerant_type(
    stream_schemas: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    stream_schema, spec_schema = stream_schemas
    for name, spec_property in spec_schema["properties"].items():
        assert name in stream_schema["properties"], (
            f"spec property {name} missing from the manifest"
        )
        stream_property = stream_schema["properties"][name]
        spec_type = spec_property["type"]
        assert spec_type in json_types(stream_property), f"{name}: type drifted from the spec"
        if name not in spec_schema["required"]:
            assert "null" in json_types(stream_property), f"{name}: optional but not nullable"
        if spec_property.get("format"):
            assert stream_property.get("format") == spec_property["format"]


def test_stream_schema_requires_what_the_spec_requires_plus_bot_id(
    stream_schemas: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    stream_schema, spec_schema = stream_schemas
    assert set(spec_schema["required"]) <= set(stream_schema["required"])
    assert set(stream_schema["required"]) - set(spec_schema["required"]) == {"bot_id"}
    assert stream_schema["properties"]["bot_id"]["type"] == "string"


def test_stream_schema_adds_nothing_but_bot_id_and_tolerates_unknown_fields(
    stream_schemas: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    stream_schema, spec_schema = stream_schemas
    assert set(stream_schema["properties"]) - set(spec_schema["properties"]) == {"bot_id"}
    assert stream_schema["additionalProperties"] is True


def test_chats_message_is_an_object_that_keeps_whatever_it_holds(manifest: dict[str, Any]) -> None:
    """Message types beyond `ai` and `human`, and fields the example does not show, are data."""
    message = manifest["schemas"]["chats"]["properties"]["message"]
    assert message["type"] == "object"
    assert message.get("additionalProperties", True) is True
    assert "properties" not in message and "enum" not in message


def test_connection_spec_has_exactly_the_documented_options(manifest: dict[str, Any]) -> None:
    connection = manifest["spec"]["connection_specification"]
    assert set(connection["properties"]) == {
        "api_key",
        "bot_ids",
        "start_date",
        "chats_batch_size",
        "base_url",
        "connection_check",
        "num_workers",
    }
    assert connection["required"] == ["api_key", "bot_ids"]
    assert connection["properties"]["api_key"]["airbyte_secret"] is True
    assert connection["properties"]["bot_ids"]["minItems"] == 1
    assert (
        connection["properties"]["base_url"]["default"]
        == chatnode_spec.api_document()["servers"][0]["url"]
    )
    shown = [option for option in connection["properties"].values() if "order" in option]
    assert sorted(option["order"] for option in shown) == list(range(len(shown)))


def test_only_the_check_sets_the_hidden_connection_check_flag(manifest: dict[str, Any]) -> None:
    """Airbyte's setup form hides the flag; the check block sets it for the check alone."""
    flag = manifest["spec"]["connection_specification"]["properties"]["connection_check"]
    assert flag["airbyte_hidden"] is True and flag["default"] is False and "order" not in flag
    assert manifest["check"] == {
        "type": "CheckStream",
        "stream_names": ["leads"],
        "config_overrides": {"connection_check": True},
    }


def test_the_check_probe_is_the_chats_request_with_short_timeouts(manifest: dict[str, Any]) -> None:
    """A check waits for no retries and at most 5 s per connection: an unreachable `base_url`
    fails it in seconds, well under the 10 s a person in a setup form is owed."""
    (leads,) = [stream for stream in manifest["streams"] if stream["name"] == "leads"]
    retriever = leads["retriever"]
    assert retriever["class_name"].endswith(".ConnectionCheckingRetriever")
    assert retriever["probe"] == {"$ref": "#/definitions/chats_requester"}
    assert retriever["connect_timeout_in_seconds"] <= 5
    assert retriever["read_timeout_in_seconds"] <= 15


@pytest.mark.parametrize(("flag", "retries"), [(True, 0), (False, 5), (None, 5)])
def test_requests_retry_in_syncs_and_not_in_a_check(
    manifest: dict[str, Any], flag: bool | None, retries: int
) -> None:
    """The Cloud edition's check reads through this error handler: it must not wait on retries."""
    config = {"api_key": "k", "bot_ids": ["b"]}
    if flag is not None:
        config["connection_check"] = flag
    handler = ModelToComponentFactory().create_component(
        DefaultErrorHandlerModel, manifest["definitions"]["error_handler"], config=config
    )
    assert handler.max_retries == retries


def test_chats_batch_size_is_1_to_1000_with_100_by_default(manifest: dict[str, Any]) -> None:
    option = manifest["spec"]["connection_specification"]["properties"]["chats_batch_size"]
    assert (option["type"], option["minimum"], option["maximum"]) == ("integer", 1, 1000)
    assert option["default"] == 100
    assert option["maximum"] == components.MAX_CHATS_BATCH, "the spec and the retriever disagree"
    chats = next(stream for stream in manifest["streams"] if stream["name"] == "chats")
    batch_size = InterpolatedString.create(chats["retriever"]["batch_size"], parameters={})
    assert batch_size.eval({}) == option["default"], "the retriever's default is not the spec's"
    assert batch_size.eval({"chats_batch_size": 7}) == 7


def worker_threads(config: dict[str, Any]) -> int:
    """How many worker threads the CDK gives a source built with `config` (its thread pool's
    size: the CDK exposes no public accessor, so this reads the pool it built)."""
    source = declarative_source(config=config)
    return source._concurrent_source._threadpool._threadpool._max_workers


def test_num_workers_is_1_to_20_and_its_default_is_the_concurrency_levels(
    manifest: dict[str, Any],
) -> None:
    option = manifest["spec"]["connection_specification"]["properties"]["num_workers"]
    assert (option["type"], option["minimum"], option["maximum"]) == ("integer", 1, 20)
    level = manifest["concurrency_level"]
    assert level["max_concurrency"] == option["maximum"], "the spec and the CDK's cap disagree"
    template = InterpolatedString.create(manifest["definitions"]["num_workers"], parameters={})
    assert template.eval({}) == option["default"] == 5, "the template's default is not the spec's"


@pytest.mark.parametrize(("num_workers", "threads"), [(None, 5), (1, 1), (10, 10), (20, 20)])
def test_the_cdk_runs_as_many_worker_threads_as_num_workers(
    num_workers: int | None, threads: int
) -> None:
    config: dict[str, Any] = {"api_key": "k", "bot_ids": ["a"]}
    if num_workers is not None:
        config["num_workers"] = num_workers
    assert worker_threads(config) == threads


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


def test_every_streaming_decoder_names_the_records_its_array_holds(
    manifest: dict[str, Any],
) -> None:
    """`record` has no default: a decoder without it would word a malformed chats body as
    "leads" (the Cloud generator refuses it too)."""
    decoders = [
        node
        for node in _nodes(manifest)
        if node.get("class_name") == f"{SDM_PREFIX}ObjectArrayDecoder"
    ]
    assert len(decoders) >= 2, "leads and chats each read through the streaming decoder"
    assert sorted({decoder.get("record") for decoder in decoders}) == ["lead", "message"]


def _nodes(value: Any) -> list[dict[str, Any]]:
    """Every mapping in the manifest, at any depth."""
    if isinstance(value, dict):
        return [value, *(node for child in value.values() for node in _nodes(child))]
    if isinstance(value, list):
        return [node for child in value for node in _nodes(child)]
    return []


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
    assert [stream.name for stream in streams] == ["leads", "chats"]


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
