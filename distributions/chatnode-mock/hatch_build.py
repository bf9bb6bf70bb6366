"""Puts the test kit's top-level packages (../../mock_server, ...) into the standard wheel.

The packages stay at the repository's top level, beside the connector's, so the kit's wheel
takes them from outside this folder (or from the root of the kit's sdist, which carries them).
Only the standard wheel gets copies: the editable wheel reaches them through `dev-mode-dirs`,
so edits in the checkout take effect at once.
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
        project = Path(self.root)
        # An unpacked sdist holds the packages itself; a checkout holds them two levels up.
        for source, target in self.config["top-level"].items():
            found = [
                base / source for base in (project, project.parents[1]) if (base / source).exists()
            ]
            if not found:
                raise FileNotFoundError(
                    f"{source} is neither in {project} nor two levels up: build from the repository"
                )
            build_data["force_include"][str(found[0])] = target
