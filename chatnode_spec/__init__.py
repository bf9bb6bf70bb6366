"""The one home of ChatNode's API contract: the OpenAPI documents under `spec/`, loaded once.

The mock server, the contract checker, the connector's schema tests and the test strategies all
read the API's shape from here (documents, operations, error examples, openapi-core validation);
nothing retypes a route or a schema.
"""

from chatnode_spec.documents import (
    ASSUMED_DOCUMENT_FILES,
    DOCUMENT_FILES,
    api_document,
    api_document_copy,
    component_schema,
    document_path,
    server_base_path,
    server_origin,
    spec_dir,
)
from chatnode_spec.operations import (
    Operation,
    documented_error_message,
    operation_at,
    operations,
    response_schema,
    security_header_names,
)
from chatnode_spec.validation import SpecRequest, SpecResponse, openapi

__all__ = [
    "ASSUMED_DOCUMENT_FILES",
    "DOCUMENT_FILES",
    "Operation",
    "SpecRequest",
    "SpecResponse",
    "api_document",
    "api_document_copy",
    "component_schema",
    "document_path",
    "documented_error_message",
    "openapi",
    "operation_at",
    "operations",
    "response_schema",
    "security_header_names",
    "server_base_path",
    "server_origin",
    "spec_dir",
]
