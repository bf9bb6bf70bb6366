"""`spec/` holds the published contract unchanged, and it is a valid OpenAPI 3.0 document."""

from __future__ import annotations

import re
from pathlib import Path

from openapi_spec_validator import validate

from mock_server import spec

SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_46097390454828b8.txt"


def test_spec_is_byte_identical_to_the_yaml_block_of_the_published_page() -> None:
    page = SEED.read_text(encoding="utf-8")
    block = re.search(r"^````yaml[^\n]*\n(.*?)^````", page, re.S | re.M)
    assert block, "the published page no longer has a fenced yaml block"
    assert spec.spec_path().read_text(encoding="utf-8") == block.group(1)


def test_spec_is_a_valid_openapi_3_0_document() -> None:
    document = spec.spec_document()
    assert document["openapi"].startswith("3.0")
    validate(document)


def test_spec_declares_the_leads_route_with_bearer_auth() -> None:
    document = spec.spec_document()
    assert list(document["paths"]) == [spec.LEADS_PATH_TEMPLATE]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    assert spec.server_base_path() == "/v1"
