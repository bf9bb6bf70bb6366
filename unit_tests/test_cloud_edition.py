"""The Airbyte Cloud edition: generated from the main manifest, stock YAML only, and the same
connector wherever stock YAML can express it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import requests
from airbyte_cdk.sources.declarative.models.declarative_component_schema import (
    HttpRequester as HttpRequesterModel,
)
from airbyte_cdk.sources.declarative.parsers.manifest_reference_resolver import (
    ManifestReferenceResolver,
)
from airbyte_cdk.sources.declarative.parsers.model_to_component_factory import (
    ModelToComponentFactory,
)
from airbyte_cdk.sources.declarative.requesters.error_handlers.http_response_filter import (
    HttpResponseFilter,
)
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ResponseAction
from airbyte_cdk.sources.types import StreamSlice
from hypothesis import given
from hypothesis import strategies as st

from source_chatnode.run import declarative_source, load_manifest
from tools import cloud_edition
from tools.cloud_edition import (
    CLOUD_EDITION,
    REGENERATE_COMMAND,
    STAND_INS,
    StandInError,
    UnmappedComponentError,
    custom_components,
    malformed_body_filter,
    render,
)

CONFIG = {"api_key": "k", "bot_ids": ["a"]}


@pytest.fixture(scope="module")
def main() -> dict[str, Any]:
    return load_manifest()


@pytest.fixture(scope="module")
def resolved_main(main: dict[str, Any]) -> dict[str, Any]:
    return ManifestReferenceResolver().preprocess_manifest(copy.deepcopy(main))


@pytest.fixture(scope="module")
def edition() -> dict[str, Any]:
    """The committed edition, as the Builder would import it."""
    return cloud_edition.load_manifest(CLOUD_EDITION)


def test_the_committed_edition_is_what_the_generator_makes_now(main: dict[str, Any]) -> None:
    committed = CLOUD_EDITION.read_text(encoding="utf-8")
    assert committed == render(main), (
        f"{CLOUD_EDITION.name} is out of date with source_chatnode/manifest.yaml: "
        f"run `{REGENERATE_COMMAND}`"
    )


def test_check_flag_passes_on_a_fresh_edition_and_names_the_command_on_a_stale_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "manifest.yaml"
    stale.write_text(CLOUD_EDITION.read_text(encoding="utf-8") + "# hand edit\n")
    monkeypatch.setattr(cloud_edition, "ROOT", tmp_path)
    monkeypatch.setattr(cloud_edition, "CLOUD_EDITION", stale)
    assert cloud_edition.main(["--check"]) == 1
    assert REGENERATE_COMMAND in capsys.readouterr().err
    assert cloud_edition.main([]) == 0
    assert cloud_edition.main(["--check"]) == 0


def test_the_edition_has_no_custom_component_and_no_class_name(edition: dict[str, Any]) -> None:
    assert list(custom_components(edition)) == []
    text = CLOUD_EDITION.read_text(encoding="utf-8")
    body = "".join(line for line in text.splitlines(True) if not line.startswith("#"))
    assert "class_name" not in body
    assert "Custom" not in body


def test_the_edition_validates_against_the_cdk_schema_and_builds_its_streams(
    edition: dict[str, Any],
) -> None:
    source = declarative_source(config=CONFIG, manifest=copy.deepcopy(edition))
    assert [stream.name for stream in source.streams(config=CONFIG)] == ["leads", "chats"]


def test_every_custom_component_of_the_main_manifest_has_a_stand_in(main: dict[str, Any]) -> None:
    used = set(custom_components(main))
    assert used, "the main manifest is expected to use custom components"
    assert used <= set(STAND_INS), f"no stand-in for {used - set(STAND_INS)}"


def test_the_header_lists_each_replaced_component_and_the_regenerate_command(
    main: dict[str, Any],
) -> None:
    header = cloud_edition.header(main)
    assert REGENERATE_COMMAND in header
    for name in set(custom_components(main)):
        assert (
            f"#   {name}: {STAND_INS[name].stock}\n#     gives up {STAND_INS[name].gives_up}"
            in header
        )


def test_an_unmapped_custom_component_fails_naming_its_class(main: dict[str, Any]) -> None:
    variant = copy.deepcopy(main)
    variant["definitions"]["requester"]["paginator"] = {
        "type": "CustomPaginator",
        "class_name": "source_declarative_manifest.components.CursorPaginator",
    }
    with pytest.raises(UnmappedComponentError, match="CursorPaginator"):
        cloud_edition.cloud_edition(variant)


def test_a_custom_type_without_class_name_fails_naming_the_type(main: dict[str, Any]) -> None:
    variant = copy.deepcopy(main)
    named(variant, "leads")["transformations"].append({"type": "CustomRecordTransformation"})
    with pytest.raises(UnmappedComponentError, match="CustomRecordTransformation"):
        cloud_edition.cloud_edition(variant)


def test_the_edition_does_not_depend_on_how_the_retriever_is_wrapped(
    main: dict[str, Any],
) -> None:
    """The main manifest's SimpleRetriever may or may not sit inside a custom wrapper."""
    unwrapped = copy.deepcopy(main)
    retriever = named(unwrapped, "leads")["retriever"]
    if retriever.get("type") == "SimpleRetriever":
        pytest.skip("the main manifest has no wrapping retriever today")
    named(unwrapped, "leads")["retriever"] = {
        **retriever["retriever"],
        "partition_router": retriever["partition_router"],
    }
    assert cloud_edition.cloud_edition(unwrapped) == cloud_edition.cloud_edition(main)


def test_a_wrapping_retriever_without_a_nested_retriever_cannot_be_unwrapped(
    main: dict[str, Any],
) -> None:
    variant = copy.deepcopy(main)
    named(variant, "leads")["retriever"] = {
        "type": "CustomRetriever",
        "class_name": "source_declarative_manifest.components.CachedSliceHashRetriever",
    }
    with pytest.raises(StandInError, match=r"CachedSliceHashRetriever.*nested `retriever`"):
        cloud_edition.cloud_edition(variant)


def test_the_chats_stand_in_needs_a_url_that_names_the_bot(main: dict[str, Any]) -> None:
    variant = copy.deepcopy(main)
    variant["definitions"]["chats_requester"]["url"] = "https://example.test/get-chats/fixed-bot"
    with pytest.raises(StandInError, match=r"SessionBatchRetriever.*stream_partition.bot_id"):
        cloud_edition.cloud_edition(variant)


def test_the_edition_does_not_depend_on_the_order_of_a_streams_keys(
    main: dict[str, Any],
) -> None:
    """The bot id's place in a partition comes from the retriever's stand-in, whichever key the
    main manifest writes first."""
    variant = copy.deepcopy(main)
    variant["streams"] = [dict(reversed(list(stream.items()))) for stream in variant["streams"]]
    edition = cloud_edition.cloud_edition(variant)
    for name in ("leads", "chats"):
        assert named(edition, name) == named(cloud_edition.cloud_edition(main), name)


# What must stay the same: everything a user or a destination sees.

STREAMS = ("leads", "chats")


def named(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    (stream,) = [stream for stream in manifest["streams"] if stream["name"] == name]
    return stream


def main_retriever(resolved_main: dict[str, Any], name: str) -> dict[str, Any]:
    """The SimpleRetriever that sends a stream's records' requests in the main manifest."""
    retriever = named(resolved_main, name)["retriever"]
    return retriever.get("retriever") or retriever.get("chats") or retriever


def test_same_spec_check_streams_schemas_and_primary_keys(
    resolved_main: dict[str, Any], edition: dict[str, Any]
) -> None:
    assert edition["spec"] == resolved_main["spec"]
    assert edition["check"] == resolved_main["check"]
    assert edition["version"] == resolved_main["version"]
    assert [stream["name"] for stream in edition["streams"]] == [
        stream["name"] for stream in resolved_main["streams"]
    ]
    for name in STREAMS:
        for key in ("primary_key", "schema_loader"):
            assert named(edition, name)[key] == named(resolved_main, name)[key], (name, key)


def test_the_edition_takes_its_worker_count_from_num_workers_as_the_main_one(
    resolved_main: dict[str, Any], edition: dict[str, Any]
) -> None:
    assert edition["concurrency_level"] == resolved_main["concurrency_level"]
    assert "num_workers" in edition["concurrency_level"]["default_concurrency"]
    source = declarative_source(config={**CONFIG, "num_workers": 7}, manifest=edition)
    assert source._concurrent_source._threadpool._threadpool._max_workers == 7


def test_chats_batch_size_stays_in_the_spec_and_the_header_says_it_is_ignored(
    edition: dict[str, Any],
) -> None:
    assert "chats_batch_size" in edition["spec"]["connection_specification"]["properties"]
    assert "chats_batch_size is ignored" in CLOUD_EDITION.read_text(encoding="utf-8")


def test_leads_same_requests_to_the_same_bots(
    resolved_main: dict[str, Any], edition: dict[str, Any]
) -> None:
    main_leads = main_retriever(resolved_main, "leads")
    edition_retriever = named(edition, "leads")["retriever"]
    assert edition_retriever["type"] == "SimpleRetriever"
    main_requester = {k: v for k, v in main_leads["requester"].items() if k != "error_handler"}
    edition_requester = dict(edition_retriever["requester"])
    edition_requester.pop("error_handler")
    assert edition_requester == main_requester
    main_router = named(resolved_main, "leads")["retriever"].get("partition_router")
    assert edition_retriever["partition_router"] == main_router
    assert edition_retriever["decoder"] == {"type": "JsonDecoder"}


def test_chats_ask_one_session_per_request_of_the_main_chats_endpoint(
    resolved_main: dict[str, Any], edition: dict[str, Any]
) -> None:
    main_requester = dict(main_retriever(resolved_main, "chats")["requester"])
    requester = dict(named(edition, "chats")["retriever"]["requester"])
    for key in ("error_handler", "request_body"):
        main_requester.pop(key)
        requester.pop(key)
    assert requester.pop("url") == main_requester.pop("url").replace(
        "stream_partition.bot_id", "stream_partition.parent_slice.bot_id"
    )
    assert requester == main_requester
    assert requester["request_headers"]["Content-Type"] == "application/json"


def test_chats_sessions_come_from_every_lead_of_each_configured_bot(
    resolved_main: dict[str, Any], edition: dict[str, Any]
) -> None:
    """The parent is the main edition's `sessions` retriever over the bot partitions, with no
    cursor and no incremental dependency: every sync asks for every session of every bot, so
    a message added to an old conversation is read."""
    router = named(edition, "chats")["retriever"]["partition_router"]
    assert router["type"] == "SubstreamPartitionRouter"
    (parent,) = router["parent_stream_configs"]
    assert {k: v for k, v in parent.items() if k != "stream"} == {
        "type": "ParentStreamConfig",
        "parent_key": "session_id",
        "partition_field": "session_id",
    }
    leads = parent["stream"]
    assert "incremental_sync" not in leads
    main_chats = named(resolved_main, "chats")["retriever"]
    sessions = leads["retriever"]
    assert sessions["partition_router"] == main_chats["partition_router"]
    assert sessions["record_selector"] == main_chats["sessions"]["record_selector"]
    assert sessions["requester"] == named(edition, "leads")["retriever"]["requester"]
    assert sessions["decoder"] == {"type": "JsonDecoder"}


@pytest.mark.parametrize("stream_name", STREAMS)
def test_same_error_table_then_the_malformed_body_filter_last(
    resolved_main: dict[str, Any], edition: dict[str, Any], stream_name: str
) -> None:
    main_handler = main_retriever(resolved_main, stream_name)["requester"]["error_handler"]
    edition_handler = named(edition, stream_name)["retriever"]["requester"]["error_handler"]
    *same, last = edition_handler["response_filters"]
    assert same == main_handler["response_filters"]
    assert last == malformed_body_filter({"leads": "lead", "chats": "message"}[stream_name])
    rest = {k: v for k, v in edition_handler.items() if k != "response_filters"}
    assert rest == {k: v for k, v in main_handler.items() if k != "response_filters"}


@pytest.mark.parametrize("stream_name", STREAMS)
def test_same_cursor_now_filtering_client_side_with_rfc3339_formats_only(
    resolved_main: dict[str, Any], edition: dict[str, Any], stream_name: str
) -> None:
    main_cursor = named(resolved_main, stream_name)["incremental_sync"]
    cursor = dict(named(edition, stream_name)["incremental_sync"])
    assert cursor.pop("is_client_side_incremental") is True
    assert cursor.pop("cursor_datetime_formats") == [
        f for f in main_cursor["cursor_datetime_formats"] if f != "%epoch_microseconds"
    ]
    assert cursor.pop("global_substream_cursor", False) is (stream_name == "chats")
    assert cursor == {k: v for k, v in main_cursor.items() if k != "cursor_datetime_formats"}


@pytest.mark.parametrize(
    ("stream_name", "bot_id"),
    [("leads", "stream_partition.bot_id"), ("chats", "stream_partition.parent_slice.bot_id")],
)
def test_bot_id_is_added_as_a_string_and_nothing_else_is_transformed(
    edition: dict[str, Any], stream_name: str, bot_id: str
) -> None:
    stream = named(edition, stream_name)
    assert stream["transformations"] == [
        {
            "type": "AddFields",
            "fields": [
                {
                    "type": "AddedFieldDefinition",
                    "path": ["bot_id"],
                    "value": f"{{{{ {bot_id} }}}}",
                    "value_type": "string",
                }
            ],
        }
    ]
    assert "state_migrations" not in stream


def test_leads_are_filtered_by_the_cursor_only_and_chats_also_by_their_session(
    edition: dict[str, Any],
) -> None:
    assert "record_filter" not in named(edition, "leads")["retriever"]["record_selector"]
    assert named(edition, "chats")["retriever"]["record_selector"]["record_filter"] == {
        "type": "RecordFilter",
        "condition": "{{ record.session_id == stream_partition.session_id }}",
    }


# The chats request body, rendered by the CDK's own requester.


@pytest.fixture(scope="module")
def chats_requester(edition: dict[str, Any]) -> Any:
    definition = named(edition, "chats")["retriever"]["requester"]
    return ModelToComponentFactory().create_component(
        HttpRequesterModel, definition, config=CONFIG, name="chats", decoder=None
    )


@given(session_id=st.text(min_size=1), bot_id=st.text(min_size=1))
def test_each_chats_request_body_is_a_json_array_of_exactly_its_session(
    chats_requester: Any, session_id: str, bot_id: str
) -> None:
    """Whatever the session id looks like (digits, a JSON list, quotes, emoji), the CDK sends it
    as JSON text, never a Python literal it would drop (then ChatNode answers with recent
    conversations instead)."""
    partition = StreamSlice(
        partition={"session_id": session_id, "parent_slice": {"bot_id": bot_id}}, cursor_slice={}
    )
    body = chats_requester.get_request_body_data(stream_slice=partition)
    assert isinstance(body, str)
    assert json.loads(body) == [session_id]


# The malformed-body filter, evaluated by the CDK's own HttpResponseFilter.


def response(body: bytes, status: int = 200) -> requests.Response:
    result = requests.Response()
    result.status_code = status
    result._content = body
    result.url = "http://127.0.0.1:1/v1/get-chats/bot-a"
    return result


@pytest.fixture(scope="module", params=["lead", "message"])
def record_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def filter_of(record_kind: str) -> HttpResponseFilter:
    definition = {k: v for k, v in malformed_body_filter(record_kind).items() if k != "type"}
    return HttpResponseFilter(config={}, parameters={}, **definition)


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'[{"session_id": "a"}]',
        b'[{}, {"session_id": "b", "tags": [1, "x"]}]',
        b'[{"id": "m1", "message": {"type": "ai", "data": {"content": "hi \ud83d\ude42"}}}]',
    ],
)
def test_an_array_of_objects_passes_the_malformed_body_filter(
    filter_of: HttpResponseFilter, body: bytes
) -> None:
    assert filter_of.matches(response(body)) is None


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><body>Bad Gateway</body></html>",
        b'[{"session_id": "a"}, {"session_id": "b", "created_',
        b"",
        b'{"leads": []}',
        b"{}",
        b'[{"session_id": "a"}, "lead-unavailable"]',
        b"[1]",
        b"[[]]",
        b"[null]",
        b'"text"',
        b"null",
        b"42",
        b"true",
    ],
)
def test_any_other_200_body_fails_the_sync_naming_the_url_and_the_records(
    filter_of: HttpResponseFilter, record_kind: str, body: bytes
) -> None:
    resolution = filter_of.matches(response(body))
    assert resolution is not None
    assert resolution.response_action is ResponseAction.FAIL
    message = resolution.error_message or ""
    assert (
        f"malformed {record_kind}s response from http://127.0.0.1:1/v1/get-chats/bot-a:" in message
    )
    assert f"no {record_kind} is lost" in message
