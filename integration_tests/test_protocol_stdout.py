"""stdout carries only the Airbyte protocol: one JSON message per line, whatever warnings say.

Meltano runs every plugin with `PYTHONWARNINGS=once`, and a destination reads the source's stdout
line by line as JSON: a warning printed there crashes it. The CDK prints warnings raised while a
command runs onto stdout (its print buffer stands in for stderr), so both the manifest (no
deprecated field) and the CLI (warnings go to the real stderr) keep them off. Every command of
the CLI runs with warnings shown and is checked for pure protocol in test_cli.py; the
manifest-only runtime's runs (test_manifest_only_runtime.py) assert that no command raises a
warning at all. Here: a warning that is raised does not reach stdout.
"""

from __future__ import annotations

import sys

from integration_tests.conftest import WARNINGS_SHOWN, Connector, assert_pure_protocol
from integration_tests.connector_runner import run_cli

# The requesters in their deprecated form (`url_base` and `path` instead of `url`): the CDK warns
# about them while `check` builds the streams, inside its print buffer.
DEPRECATED_FIELDS_CLI = """
import sys
from source_chatnode import run
manifest = run.load_manifest()
for name in ("requester", "chats_requester"):
    requester = manifest["definitions"][name]
    base, _, path = requester.pop("url").partition("}}/")
    requester["url_base"], requester["path"] = base + "}}", "/" + path
run.load_manifest = lambda: manifest
run.run(sys.argv[1:])
"""


def test_a_warning_raised_while_a_command_runs_goes_to_stderr_not_stdout(
    connector: Connector,
) -> None:
    run = run_cli(
        "check",
        connector.next_workdir("warn"),
        executable=(sys.executable, "-c", DEPRECATED_FIELDS_CLI),
        env=WARNINGS_SHOWN,
        config=connector.config(),
    )
    assert "Field 'url_base' is deprecated" in run.stderr, "no warning was raised"
    assert_pure_protocol(run, "check")
    assert run.connection_status["status"] == "SUCCEEDED"
