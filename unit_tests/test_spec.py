"""`spec/` holds the published contract unchanged, and `chatnode_spec` hands it out faithfully."""

from __future__ import annotations

import hashlib

import pytest
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_spec_validator import validate

import chatnode_spec
from chatnode_spec.documents import freeze, merge_into, thaw


def recorded_checksums() -> dict[str, str]:
    """`spec/SHA256SUMS`: file name -> SHA-256, as `sha256sum` writes it."""
    lines = (chatnode_spec.spec_dir() / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return {name.strip(): digest for digest, name in (line.split("  ", 1) for line in lines)}


def test_every_bundled_document_is_pinned_by_its_published_checksum() -> None:
    assert set(recorded_checksums()) == set(chatnode_spec.DOCUMENT_FILES)


@pytest.mark.parametrize("name", chatnode_spec.DOCUMENT_FILES)
def test_bundled_document_is_byte_identical_to_what_was_published(name: str) -> None:
    content = chatnode_spec.document_path(name).read_bytes()
    assert hashlib.sha256(content).hexdigest() == recorded_checksums()[name], (
        f"spec/{name} differs from the published document; see spec/README.md to update it"
    )


@pytest.mark.parametrize("name", chatnode_spec.DOCUMENT_FILES)
def test_spec_provenance_names_every_document(name: str) -> None:
    assert f"`{name}`" in (chatnode_spec.spec_dir() / "README.md").read_text(encoding="utf-8")


def test_assumed_documents_are_labelled_and_kept_out_of_spec() -> None:
    for name in chatnode_spec.ASSUMED_DOCUMENT_FILES:
        path = chatnode_spec.document_path(name)
        assert not (chatnode_spec.spec_dir() / name).exists()
        assert "ASSUMED, NOT PUBLISHED" in path.read_text(encoding="utf-8")
    assumed = [op.path_template for op in chatnode_spec.operations() if op.assumed]
    assert assumed == ["/auth_me"]
    assert f"`{chatnode_spec.ASSUMED_DOCUMENT_FILES[0]}`" in (
        chatnode_spec.spec_dir() / "README.md"
    ).read_text(encoding="utf-8")


def test_merged_paths_put_literal_paths_before_send_messages_template() -> None:
    assert list(chatnode_spec.api_document()["paths"]) == [
        "/auth_me",
        "/get-conversation-ids/{bot_id}",
        "/get-chats/{bot_id}",
        "/{bot_id}",
    ]


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("post", "/v1/get-conversation-ids/bot-1", "/get-conversation-ids/{bot_id}"),
        ("post", "/v1/get-chats/bot-1", "/get-chats/{bot_id}"),
        ("post", "/v1/bot-1", "/{bot_id}"),
        ("get", "/v1/auth_me", "/auth_me"),
    ],
)
def test_openapi_core_routes_each_path_to_its_own_operation(
    method: str, path: str, template: str
) -> None:
    finder = APICallPathFinder(chatnode_spec.openapi().spec)
    found = finder.find(method, chatnode_spec.server_origin() + path)
    assert found.path.parts[-1] == template


def test_send_message_declares_its_body_fields() -> None:
    send = chatnode_spec.operation_at("/{bot_id}", "POST")
    assert send.body_fields == frozenset({"message", "chat_session_id", "streaming"})
    assert send.documented_statuses == frozenset({200, 400, 401, 403})
    assert chatnode_spec.operation_at("/get-chats/{bot_id}").body_fields is None


def test_merged_document_is_a_valid_openapi_3_0_document() -> None:
    document = thaw(chatnode_spec.api_document())
    assert document["openapi"].startswith("3.0")
    validate(document)


def test_leads_route_is_served_with_bearer_auth_under_v1() -> None:
    document = chatnode_spec.api_document()
    assert "/get-conversation-ids/{bot_id}" in document["paths"]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    assert chatnode_spec.server_base_path() == "/v1"
    assert chatnode_spec.server_origin() == "https://api.public.chatnode.ai"
    assert chatnode_spec.security_header_names() == frozenset({"Authorization"})


def test_operations_come_from_the_spec_paths() -> None:
    leads = chatnode_spec.operation_at("/get-conversation-ids/{bot_id}")
    assert leads.method == "POST"
    assert leads.path_params == ("bot_id",)
    assert leads.documented_statuses == frozenset({200, 401, 403})
    assert not leads.has_request_body
    with pytest.raises(LookupError, match="no operation at /nowhere"):
        chatnode_spec.operation_at("/nowhere")


def test_error_examples_are_looked_up_from_the_spec() -> None:
    leads = chatnode_spec.operation_at("/get-conversation-ids/{bot_id}")
    assert chatnode_spec.documented_error_message(leads, 401) == "Bearer token missing or unknown"
    assert chatnode_spec.documented_error_message(leads, 403) == "Bot access not allowed"
    assert chatnode_spec.documented_error_message(leads, 500) is None
    assert chatnode_spec.documented_error_message(leads, 200) is None


def test_documents_are_handed_out_read_only() -> None:
    document = chatnode_spec.api_document()
    with pytest.raises(TypeError, match="does not support item assignment"):
        document["paths"]["/injected"] = {}  # type: ignore[index]
    assert isinstance(document["servers"], tuple)


def test_component_schemas_are_private_copies() -> None:
    mine = chatnode_spec.component_schema("Conversation")
    mine["properties"].clear()
    assert chatnode_spec.component_schema("Conversation")["properties"]
    assert chatnode_spec.api_document()["components"]["schemas"]["Conversation"]["properties"]


def test_freeze_and_thaw_round_trip() -> None:
    value = {"a": [1, {"b": [2, 3]}], "c": None}
    frozen = freeze(value)
    assert thaw(frozen) == value
    assert thaw(frozen) is not value


def test_spec_request_is_placed_on_the_spec_server_and_judged_by_openapi_core() -> None:
    request = chatnode_spec.SpecRequest(
        "POST",
        "/get-conversation-ids/bot-1",
        headers=[("Authorization", "Bearer k")],
        relative=True,
    )
    assert request.host_url == "https://api.public.chatnode.ai"
    assert request.path == "/v1/get-conversation-ids/bot-1"
    assert not chatnode_spec.openapi().unmarshal_request(request).errors
    anonymous = chatnode_spec.SpecRequest("POST", "/v1/get-conversation-ids/bot-1")
    assert chatnode_spec.openapi().unmarshal_request(anonymous).errors


def _document(path: str, message_example: str) -> dict:
    return {
        "servers": [{"url": "https://api.public.chatnode.ai/v1"}],
        "paths": {path: {"post": {}}},
        "components": {"schemas": {"Forbidden": {"example": message_example}}},
    }


def test_merging_documents_takes_shared_components_once() -> None:
    merged = _document("/a", "Bot access not allowed")
    merge_into(merged, _document("/b", "Bot access not allowed"), "b.yaml")
    assert list(merged["paths"]) == ["/a", "/b"]
    assert merged["components"]["schemas"]["Forbidden"] == {"example": "Bot access not allowed"}


def test_merging_refuses_a_path_declared_twice() -> None:
    with pytest.raises(ValueError, match=r"b.yaml declares /a, which another document declares"):
        merge_into(_document("/a", "x"), _document("/a", "x"), "b.yaml")


def test_merging_refuses_a_component_defined_differently() -> None:
    with pytest.raises(ValueError, match=r"redefines components.schemas.Forbidden differently"):
        merge_into(_document("/a", "x"), _document("/b", "y"), "b.yaml")
