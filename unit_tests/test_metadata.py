"""`metadata.yaml` carries what the Airbyte registry needs and agrees with the manifest."""

from __future__ import annotations

import re
import tomllib
import uuid
from pathlib import Path

import yaml
from airbyte_cdk.models.connector_metadata import ConnectorLanguage, MetadataFile

from source_chatnode.run import load_manifest

ROOT = Path(__file__).resolve().parents[1]


def locked_version(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    return next(entry["version"] for entry in lock["package"] if entry["name"] == package)


def test_metadata_validates_against_the_cdk_metadata_model() -> None:
    metadata = MetadataFile.from_file(ROOT / "metadata.yaml").data
    assert metadata.language is ConnectorLanguage.MANIFEST_ONLY
    assert metadata.dockerRepository == "airbyte/source-chatnode"
    assert re.fullmatch(r"\d+\.\d+\.\d+", metadata.dockerImageTag)
    assert metadata.suggestedStreams is not None
    assert metadata.suggestedStreams.streams == ["leads"]


def test_metadata_has_every_field_the_registry_expects() -> None:
    data = yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))["data"]
    for field in (
        "metadataSpecVersion",
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
    data = yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))["data"]
    image = data["connectorBuildOptions"]["baseImage"]
    assert image.startswith("docker.io/airbyte/source-declarative-manifest:")
    image_version = image.rsplit(":", 1)[1].split("@")[0]
    assert image_version == load_manifest()["version"] == locked_version("airbyte-cdk")


def test_allowed_hosts_match_the_default_base_url() -> None:
    data = yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))["data"]
    default_url = load_manifest()["spec"]["connection_specification"]["properties"]["base_url"][
        "default"
    ]
    assert default_url.split("/")[2] in data["allowedHosts"]["hosts"]
