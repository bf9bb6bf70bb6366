"""Each distribution built from this repository carries only what it imports, and runs alone.

`airbyte-source-chatnode` is the connector, `chatnode-mock` the test kit (docs/packaging.md).
Every wheel of the uv workspace is built (from its sdist), its METADATA is compared with an AST
scan of the modules it ships, then each wheel is installed alone in a fresh venv and run as its
users run it. The venvs take versions from uv.lock, so the uv cache serves them.
"""

from __future__ import annotations

import ast
import email.parser
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.message import Message
from functools import cache, cached_property
from pathlib import Path, PurePosixPath

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mock_server.cli import build_parser, config_from_args
from mock_server.data import leads_for_bot
from unit_tests.mock_process import mock_server_process

ROOT = Path(__file__).resolve().parents[1]
CONNECTOR = "airbyte-source-chatnode"
KIT = "chatnode-mock"

EXTRA_MODULES = {
    "dlt": "source_chatnode/dlt",
    "singer": "source_chatnode/singer",
    "pytest": "mock_server/pytest_plugin",
}
"""The module (or package) each extra is for: only its imports may need the extra's requirements.
Every other shipped module's imports must be unconditional requirements."""

LOADED_NOT_IMPORTED = {KIT: {"httptools"}}
"""Unconditional requirements no module imports: uvicorn loads httptools by name when present."""

KIT_SERVER_STACK = {"uvicorn", "httptools", "openapi-core", "respx", "werkzeug"}
"""What every connector install used to pull in with the test kit; the connector needs none."""


def uv() -> list[str]:
    """uv as `make` found it: `uv run` exports UV; else uv on PATH; else the module under python3."""
    if found := os.environ.get("UV") or shutil.which("uv"):
        return [found]
    return [shutil.which("python3") or "python3", "-m", "uv"]


def clean_env() -> dict[str, str]:
    """The environment without what would point a fresh venv's programs back at the checkout.

    Bytecode may be written (into the throwaway venvs): each later run there then skips
    recompiling what the first one imported, seconds per run for airbyte-cdk or openapi-core.
    """
    drop = {
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "PYTHONHOME",
        "UV_INTERNAL__PARENT_INTERPRETER",
        "PYTHONDONTWRITEBYTECODE",
    }
    return {key: value for key, value in os.environ.items() if key not in drop}


def run(*args: str | Path, cwd: Path = ROOT) -> str:
    process = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert process.returncode == 0, f"{args} failed:\n{process.stderr[-3000:]}"
    return process.stdout


@dataclass(frozen=True)
class Wheel:
    path: Path

    @cached_property
    def files(self) -> list[str]:
        with zipfile.ZipFile(self.path) as archive:
            return archive.namelist()

    def read(self, name: str) -> str:
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(name).decode("utf-8")

    def dist_info(self, name: str) -> str:
        return self.read(next(f for f in self.files if f.endswith(f".dist-info/{name}")))

    @cached_property
    def metadata(self) -> Message:
        return email.parser.Parser().parsestr(self.dist_info("METADATA"))

    @property
    def name(self) -> str:
        return canonicalize_name(self.metadata["Name"])

    @property
    def requirements(self) -> list[Requirement]:
        return [Requirement(text) for text in self.metadata.get_all("Requires-Dist") or []]

    @property
    def unconditional(self) -> set[str]:
        """Requires-Dist without an `extra ==` marker: what installing the wheel always brings."""
        return {
            canonicalize_name(r.name)
            for r in self.requirements
            if r.marker is None or "extra" not in str(r.marker)
        }

    def extra_requirements(self, extra: str) -> set[str]:
        return {
            canonicalize_name(r.name)
            for r in self.requirements
            if r.marker is not None and r.marker.evaluate({"extra": extra})
        } - self.unconditional

    @property
    def extras(self) -> set[str]:
        return set(self.metadata.get_all("Provides-Extra") or [])

    @property
    def top_level_packages(self) -> set[str]:
        return {f.split("/")[0] for f in self.files if f.split("/")[0].isidentifier()}

    def modules(self) -> Iterator[tuple[str, str]]:
        """(archive path without `.py`, source) of every module the wheel ships."""
        for name in self.files:
            if name.endswith(".py"):
                yield name.removesuffix(".py"), self.read(name)


def imported_top_level_names(source: str) -> set[str]:
    """Absolute imports anywhere in the module, function-local and conditional ones included."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@cache
def installed_providers() -> Mapping[str, list[str]]:
    """Top-level import name -> installed distributions, from the dev venv (a slow scan: once)."""
    return importlib.metadata.packages_distributions()


def providing_distributions(name: str) -> set[str]:
    """The installed distributions that provide a top-level import name (usually one)."""
    provided = installed_providers().get(name)
    assert provided, f"`import {name}`: no installed distribution provides it"
    return {canonicalize_name(distribution) for distribution in provided}


def third_party_imports(wheel: Wheel, modules: Mapping[str, str]) -> dict[str, set[str]]:
    """Each third-party top-level name the modules import, and the distributions that provide it."""
    names = set().union(*map(imported_top_level_names, modules.values()))
    names -= set(sys.stdlib_module_names) | wheel.top_level_packages
    return {name: providing_distributions(name) for name in sorted(names)}


def in_extra(module: str, extra: str) -> bool:
    owner = PurePosixPath(EXTRA_MODULES[extra])
    path = PurePosixPath(module)
    return path == owner or owner in path.parents


def module_sources(wheel: Wheel, extra: str | None) -> dict[str, str]:
    """The modules of one extra, or (extra None) every module that belongs to no extra."""
    return {
        module: source
        for module, source in wheel.modules()
        if (extra is not None and in_extra(module, extra))
        or (extra is None and not any(in_extra(module, e) for e in wheel.extras))
    }


def project_name(folder: Path) -> str:
    pyproject = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
    return canonicalize_name(pyproject["project"]["name"])


def workspace_members() -> set[str]:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    members = [ROOT / member for member in root["tool"]["uv"]["workspace"]["members"]]
    return {project_name(folder) for folder in (ROOT, *members)}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Wheel]:
    """As they would be published: each wheel is built from its sdist, outside the checkout."""
    out = tmp_path_factory.mktemp("wheels")
    run(*uv(), "build", "--all-packages", "--quiet", "--out-dir", out)
    built = [Wheel(path) for path in sorted(out.glob("*.whl"))]
    return {wheel.name: wheel for wheel in built}


@pytest.fixture(scope="module")
def locked_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """uv.lock's versions as constraints: a fresh venv gets what the cache holds, not the newest."""
    constraints = tmp_path_factory.mktemp("lock") / "constraints.txt"
    run(*uv(), "export", "--frozen", "--no-hashes", "--all-extras", "--all-groups",
        "--no-emit-workspace", "--quiet", "--output-file", constraints)  # fmt: skip
    return constraints


@dataclass(frozen=True)
class Venv:
    folder: Path

    def bin(self, program: str) -> Path:
        return self.folder / "bin" / program

    def installed(self) -> set[str]:
        listing = run(*uv(), "pip", "list", "--format", "json", "--python", self.bin("python"))
        return {canonicalize_name(entry["name"]) for entry in json.loads(listing)}

    def python(self, code: str) -> str:
        """Runs outside the checkout, so nothing of it is importable by accident."""
        return run(self.bin("python"), "-c", code, cwd=self.folder)


def venv_with(wheel: Wheel, folder: Path, constraints: Path) -> Venv:
    venv = Venv(folder)
    run(*uv(), "venv", "--quiet", "--python", sys._base_executable, folder)
    # --python, always: run under `python -m uv`, uv pip would otherwise pick that interpreter.
    run(*uv(), "pip", "install", "--quiet", "--python", venv.bin("python"),
        "--constraints", constraints, wheel.path)  # fmt: skip
    return venv


@pytest.fixture(scope="module")
def connector_venv(
    wheels: dict[str, Wheel], locked_versions: Path, tmp_path_factory: pytest.TempPathFactory
) -> Venv:
    return venv_with(
        wheels[CONNECTOR], tmp_path_factory.mktemp("venv") / CONNECTOR, locked_versions
    )


@pytest.fixture(scope="module")
def kit_venv(
    wheels: dict[str, Wheel], locked_versions: Path, tmp_path_factory: pytest.TempPathFactory
) -> Venv:
    return venv_with(wheels[KIT], tmp_path_factory.mktemp("venv") / KIT, locked_versions)


def test_every_workspace_member_builds_one_wheel(wheels: dict[str, Wheel]) -> None:
    assert set(wheels) == workspace_members() == {CONNECTOR, KIT}


def test_the_connector_wheel_carries_only_the_connector(wheels: dict[str, Wheel]) -> None:
    connector = wheels[CONNECTOR]
    assert connector.top_level_packages == {"source_chatnode"}
    for shipped in ("manifest.yaml", "components.py", "run.py", "builder/manifest.yaml"):
        # The very files of the source tree, not only their names: a stale or empty copy in the
        # wheel is a broken connector that a listing would not show.
        expected = (ROOT / "source_chatnode" / shipped).read_text(encoding="utf-8")
        assert connector.read(f"source_chatnode/{shipped}") == expected, shipped
    assert "source-chatnode = source_chatnode.run:run" in connector.dist_info("entry_points.txt")


def test_the_kit_wheel_carries_the_kit_and_the_spec_documents(wheels: dict[str, Wheel]) -> None:
    kit = wheels[KIT]
    assert kit.top_level_packages == {"mock_server", "chatnode_spec", "chatnode_contract"}
    bundled = {f.removeprefix("chatnode_spec/_bundled/") for f in kit.files if "/_bundled/" in f}
    assert bundled == {path.name for path in (ROOT / "spec").iterdir() if path.is_file()}
    entry_points = kit.dist_info("entry_points.txt")
    for line in (
        "chatnode_mock = mock_server.pytest_plugin",
        "chatnode-mock-server = mock_server.cli:main",
        "chatnode-contract = chatnode_contract.cli:main",
    ):
        assert line in entry_points


@pytest.mark.parametrize("distribution", [CONNECTOR, KIT])
def test_unconditional_requirements_are_exactly_what_the_modules_import(
    wheels: dict[str, Wheel], distribution: str
) -> None:
    wheel = wheels[distribution]
    imports = third_party_imports(wheel, module_sources(wheel, extra=None))
    undeclared = {name for name, provided in imports.items() if not provided & wheel.unconditional}
    assert not undeclared, f"{distribution} imports {undeclared} without requiring them"
    needed = set().union(*imports.values()) | LOADED_NOT_IMPORTED.get(distribution, set())
    assert wheel.unconditional <= needed, (
        f"{distribution} requires {wheel.unconditional - needed}, which none of its modules import"
    )


@pytest.mark.parametrize("distribution", [CONNECTOR, KIT])
def test_each_extra_brings_what_its_modules_import(
    wheels: dict[str, Wheel], distribution: str
) -> None:
    wheel = wheels[distribution]
    assert wheel.extras <= set(EXTRA_MODULES), "say in EXTRA_MODULES which modules an extra is for"
    for extra in wheel.extras:
        assert wheel.extra_requirements(extra), f"extra {extra} requires nothing"
        declared = wheel.unconditional | wheel.extra_requirements(extra)
        imports = third_party_imports(wheel, module_sources(wheel, extra))
        undeclared = {name for name, provided in imports.items() if not provided & declared}
        assert not undeclared, (
            f"{distribution}[{extra}] imports {undeclared} without requiring them"
        )


def test_the_extras_the_brief_names_are_declared(wheels: dict[str, Wheel]) -> None:
    assert wheels[CONNECTOR].extra_requirements("dlt") == {"dlt", "jsonschema"}
    assert wheels[CONNECTOR].extra_requirements("singer") == {"singer-sdk"}
    assert wheels[KIT].extra_requirements("pytest") == {"pytest"}


def test_the_kit_requires_no_airbyte_cdk_even_transitively(
    wheels: dict[str, Wheel], kit_venv: Venv
) -> None:
    assert "airbyte-cdk" not in wheels[KIT].unconditional
    installed = kit_venv.installed()
    assert KIT in installed
    assert not installed & {"airbyte-cdk", CONNECTOR}
    assert kit_venv.python("import importlib.util as u; print(u.find_spec('airbyte_cdk'))") == (
        "None\n"
    )


def test_the_connector_installed_alone_prints_its_spec(connector_venv: Venv) -> None:
    output = run(connector_venv.bin("source-chatnode"), "spec", cwd=connector_venv.folder)
    messages = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    specs = [message["spec"] for message in messages if message["type"] == "SPEC"]
    assert len(specs) == 1
    assert {"api_key", "bot_ids"} <= set(specs[0]["connectionSpecification"]["required"])


def test_the_connector_installed_alone_brings_no_test_kit(connector_venv: Venv) -> None:
    installed = connector_venv.installed()
    assert {CONNECTOR, "airbyte-cdk"} <= installed
    assert not installed & (KIT_SERVER_STACK | {KIT})
    found = connector_venv.python(
        "import importlib.util as u; print([u.find_spec(p) for p in ('mock_server', 'chatnode_spec')])"
    )
    assert found == "[None, None]\n"


@pytest.fixture
def kit_server(kit_venv: Venv) -> Iterator[str]:
    """`chatnode-mock-server` of the kit venv on a free port of 127.0.0.1; its base URL."""
    argv = [kit_venv.bin("chatnode-mock-server"), "--host", "127.0.0.1", "--port", "0"]
    with mock_server_process(argv, cwd=kit_venv.folder, env=clean_env()) as (_, url):
        yield url


def test_the_kit_installed_alone_serves_get_leads(kit_server: str) -> None:
    """With no flags: the leads the checkout's CLI would serve with no flags, to the default key."""
    defaults = config_from_args(build_parser().parse_args([]))
    bot = defaults.bots[0]
    request = urllib.request.Request(
        f"{kit_server}/get-conversation-ids/{bot}",
        method="POST",
        headers={"Authorization": f"Bearer {next(iter(defaults.api_keys))}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        leads = json.loads(response.read())
    assert len(leads) == defaults.leads_per_bot > 0
    assert leads == list(
        leads_for_bot(defaults.seed, bot, defaults.leads_per_bot, quirks=defaults.quirks)
    )


def test_the_kit_installed_alone_reads_the_spec_documents_it_bundles(kit_venv: Venv) -> None:
    """No spec/ beside the installed package: chatnode_spec falls back to its bundled copy."""
    found = Path(
        kit_venv.python("import chatnode_spec.documents as d; print(d.spec_dir())").strip()
    )
    assert found.parts[-2:] == ("chatnode_spec", "_bundled")
    assert found.is_relative_to(kit_venv.folder)
    # What the contract CLI loads from there: every document, merged into the API it checks.
    loaded = kit_venv.python(
        "import json, chatnode_spec.documents as d; "
        "print(json.dumps([sorted(d.api_document()['paths']), "
        "[str(d.document_path(n)) for n in (*d.DOCUMENT_FILES, *d.ASSUMED_DOCUMENT_FILES)]]))"
    )
    paths, documents = json.loads(loaded)
    assert {"/get-conversation-ids/{bot_id}", "/get-chats/{bot_id}"} <= set(paths)
    for document in map(Path, documents):  # the published ones bundled, the assumed beside
        assert document.is_file() and document.is_relative_to(kit_venv.folder), document


def test_the_kit_installed_alone_runs_the_contract_checker(kit_venv: Venv) -> None:
    assert "usage: chatnode-contract" in run(kit_venv.bin("chatnode-contract"), "--help")


def test_no_two_installed_distributions_ship_the_same_module() -> None:
    """The whole dev environment (connector, both extras, the kit) has one owner per module.

    singer-sdk 0.53 and later bring `python-backoff`, whose files overwrite airbyte-cdk's
    `backoff`; under it the CDK's Retry-After handler stops waiting (the under-load tests saw
    retries sent at once). The `[singer]` extra stays below 0.53 until the two agree.
    """
    owners = importlib.metadata.packages_distributions()
    shared = {
        module: sorted(dists)
        for module, dists in owners.items()
        if len({canonicalize_name(dist) for dist in dists}) > 1 and not _is_namespace(module)
    }
    assert not shared, f"modules installed by more than one distribution: {shared}"


def _is_namespace(module: str) -> bool:
    """A namespace package (`google`, `jaraco`) is meant to be shared: it has no file of its own."""
    spec = importlib.util.find_spec(module)
    return spec is None or spec.origin in (None, "namespace")
