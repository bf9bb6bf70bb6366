"""Puts the test kit's top-level packages (../../mock_server, ...) into the standard wheel.

The packages stay at the repository's top level, beside the connector's, so the kit's wheel
takes them from outside this folder. Only the standard wheel gets copies: the editable wheel
reaches them through `dev-mode-dirs`, so edits in the checkout take effect at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class TopLevelPackagesHook(BuildHookInterface):
    """`top-level` in this hook's config maps a path under the repository root to its place in
    the wheel."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        repository_root = Path(self.root).parents[1]
        for source, target in self.config["top-level"].items():
            path = repository_root / source
            if not path.exists():
                raise FileNotFoundError(
                    f"{path} is not in this checkout: build from the repository"
                )
            build_data["force_include"][str(path)] = target
