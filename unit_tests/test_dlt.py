"""The dlt source's pure parts: column hints from the streams' JSON schemas, the option check
against the connector's spec, and dlt staying out of the rest of the connector. Its runs against
the mock are in integration_tests/test_dlt.py."""

from __future__ import annotations

import ast
from pathlib import Path

import source_chatnode
from source_chatnode.dlt import chatnode, columns_from_json_schema, spec_violations
from source_chatnode.in_process import connector_spec


def test_json_schema_types_and_formats_become_dlt_data_types_and_only_the_key_is_not_null() -> None:
    schema = {
        "required": ["bot_id", "id", "count"],
        "properties": {
            "bot_id": {"type": "string", "description": "The bot."},
            "id": {"type": "string"},
            "at": {"type": ["null", "string"], "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "count": {"type": "integer"},
            "score": {"type": ["number", "null"]},
            "flag": {"type": ["null", "boolean"]},
            "message": {"type": "object", "additionalProperties": True},
            "tags": {"type": "array"},
            "anything": {},
            "either": {"type": ["string", "integer"]},
        },
    }
    columns = columns_from_json_schema(schema, ["bot_id", "id"])
    types = {name: column.get("data_type") for name, column in columns.items()}
    assert types == {
        "bot_id": "text", "id": "text", "at": "timestamp", "day": "date", "count": "bigint",
        "score": "double", "flag": "bool", "message": "json", "tags": "json",
        "anything": None, "either": None,
    }  # fmt: skip
    assert [name for name, column in columns.items() if not column["nullable"]] == ["bot_id", "id"]
    assert columns["bot_id"]["description"] == "The bot."


def test_the_resources_merge_on_the_connectors_composite_keys() -> None:
    source = chatnode(api_key="k", bot_ids=["a"])
    keys = {}
    for name, resource in source.resources.items():
        table = resource.compute_table_schema()
        assert table["write_disposition"] == "merge"
        keys[name] = {
            column for column, hints in table["columns"].items() if hints.get("primary_key")
        }
    assert keys == {"leads": {"bot_id", "session_id"}, "chats": {"bot_id", "id"}}


def test_spec_violations_name_each_option_and_accept_a_valid_config() -> None:
    spec = connector_spec()
    valid = {"api_key": "k", "bot_ids": ["a"], "chats_batch_size": 100}
    assert spec_violations(valid, spec) == []
    broken = {**valid, "bot_ids": [""], "chats_batch_size": 5000, "start_date": "yesterday"}
    problems = spec_violations(broken, spec)
    assert [problem.split(":")[0] for problem in problems] == ["bot_ids.0", "chats_batch_size", "start_date"]  # fmt: skip


def test_only_the_dlt_module_imports_dlt() -> None:
    """`import source_chatnode` (and the Airbyte runtimes) must work without dlt installed."""
    package = Path(source_chatnode.__file__).parent
    for module in package.rglob("*.py"):
        if module.name == "dlt.py":
            continue
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
            imported = {name for name in names if name.split(".")[0] == "dlt" or ".dlt" in name}
            assert not imported, f"{module.relative_to(package)} imports {imported}"
