"""`metadata.yaml` carries what the Airbyte registry needs and agrees with the manifest."""

from __future__ import annotations

import re
import tomllib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from airbyte_cdk.models.connector_metadata import ConnectorLanguage, MetadataFile
from airbyte_connector_models.metadata.v0.connector_metadata_definition_v0 import (
    ConnectorMetadataDefinitionV0,
)
from pydantic import ValidationError

from source_chatnode.run import load_manifest

ROOT = Path(__file__).resolve().parents[1]


def locked_version(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    return next(entry["version"] for entry in lock["package"] if entry["name"] == package)


def metadata_document() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))


def test_metadata_validates_against_airbytes_registry_model() -> None:
    """The registry's own model (strict: unknown or misplaced fields are errors), not the CDK's."""
    metadata = ConnectorMetadataDefinitionV0.model_validate(metadata_document())
    assert metadata.metadata_spec_version == "1.0"
    assert metadata.data.remote_registries is not None
    assert metadata.data.remote_registries.pypi is not None
    assert metadata.data.remote_registries.pypi.package_name == "airbyte-source-chatnode"


@pytest.mark.parametrize(
    ("breakage", "error"),
    [
        (lambda doc: doc["data"].update(metadataSpecVersion=doc.pop("metadataSpecVersion")),
         "metadataSpecVersion"),
        (lambda doc: doc["data"]["remoteRegistries"]["pypi"].pop("packageName"), "packageName"),
    ],
)  # fmt: skip
def test_the_registry_model_rejects_the_mistakes_it_caught_before(
    breakage: Callable[[dict[str, Any]], object], error: str
) -> None:
    """Proves the model is strict enough to catch what the CDK's MetadataFile let through."""
    document = metadata_document()
    breakage(document)
    with pytest.raises(ValidationError, match=error):
        ConnectorMetadataDefinitionV0.model_validate(document)


def test_metadata_validates_against_the_cdk_metadata_model() -> None:
    metadata = MetadataFile.from_file(ROOT / "metadata.yaml").data
    assert metadata.language is ConnectorLanguage.MANIFEST_ONLY
    assert metadata.dockerRepository == "airbyte/source-chatnode"
    assert re.fullmatch(r"\d+\.\d+\.\d+", metadata.dockerImageTag)
    assert metadata.suggestedStreams is not None
    assert metadata.suggestedStreams.streams == ["leads", "chats"]


def test_metadata_has_every_field_the_registry_expects() -> None:
    document = metadata_document()
    assert document["metadataSpecVersion"], "metadataSpecVersion belongs beside `data`"
    data = document["data"]
    for field in (
        "name",
        "definitionId",
        "connectorType",
        "connectorSubtype",
        "dockerRepository",
        "dockerImageTag",
        "documentationUrl",
        "license",
        "releaseStage",
        "supportLevel",
        "tags",
        "connectorBuildOptions",
    ):
        assert data.get(field), f"metadata.yaml lacks {field}"
    uuid.UUID(data["definitionId"])
    assert data["connectorType"] == "source"
    assert data["connectorSubtype"] == "api"
    assert data["releaseStage"] in {"alpha", "beta", "generally_available", "custom"}
    assert data["supportLevel"] in {"community", "certified", "archived"}
    assert {"language:manifest-only", "cdk:low-code"} <= set(data["tags"])
    assert data["documentationUrl"].startswith("https://")
    assert data["documentationUrl"] == load_manifest()["spec"]["documentation_url"]


def test_base_image_manifest_version_and_locked_cdk_agree() -> None:
    data = metadata_document()["data"]
    image = data["connectorBuildOptions"]["baseImage"]
    assert image.startswith("docker.io/airbyte/source-declarative-manifest:")
    image_version = image.rsplit(":", 1)[1].split("@")[0]
    assert image_version == load_manifest()["version"] == locked_version("airbyte-cdk")


def test_allowed_hosts_match_the_default_base_url() -> None:
    data = metadata_document()["data"]
    default_url = load_manifest()["spec"]["connection_specification"]["properties"]["base_url"][
        "default"
    ]
    assert default_url.split("/")[2] in data["allowedHosts"]["hosts"]


def project_table(folder: Path) -> dict[str, Any]:
    return tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_the_pypi_package_name_is_the_connector_distribution() -> None:
    """PyAirbyte and tap-airbyte-wrapper `pip install` the name metadata.yaml gives."""
    pypi = metadata_document()["data"]["remoteRegistries"]["pypi"]
    assert pypi["packageName"] == project_table(ROOT)["name"] == "airbyte-source-chatnode"


def test_metadata_version_and_streams_follow_the_package_and_the_manifest() -> None:
    """The image tag is the version of both distributions (released together), and every
    suggested stream exists."""
    data = metadata_document()["data"]
    assert data["dockerImageTag"] == project_table(ROOT)["version"]
    assert (
        data["dockerImageTag"] == project_table(ROOT / "distributions" / "chatnode-mock")["version"]
    )
    streams = {stream["name"] for stream in load_manifest()["streams"]}
    assert set(data["suggestedStreams"]["streams"]) <= streams
