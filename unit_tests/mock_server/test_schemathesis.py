"""schemathesis drives the live server from the spec; every response must conform (status codes,
content types, bodies, auth enforced, 405 for undeclared methods).

Runs the `st` CLI's examples, coverage and fuzzing phases (cases derived from the spec, positive
and negative; hypothesis is pinned below 6.170.10 in pyproject.toml because later releases
break hypothesis-jsonschema, which the fuzzer uses). `positive_data_acceptance` is left out
because a random `bot_id` is a bot that does not exist, which the API rightly answers 403.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from chatnode_spec.documents import api_document_copy
from mock_server.server import MockServer


def test_live_server_passes_schemathesis(tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("st")
    document = tmp_path / "chatnode.openapi.json"
    document.write_bytes(orjson.dumps(api_document_copy()))
    with MockServer(leads_per_bot=10) as server:
        result = subprocess.run(
            [
                str(st), "run", str(document),
                "--url", server.base_url,
                "-H", f"Authorization: Bearer {server.api_key}",
                "--phases", "examples,coverage,fuzzing",
                "--checks", "all",
                "--exclude-checks", "positive_data_acceptance",
                "--seed", "1",
                "--max-examples", "50",
            ],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
        journal = server.journal()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    # Random bot ids are bots that do not exist, so most generated cases get the spec's 403:
    # schemathesis warns about that but must report no failure.
    assert "✅ Fuzzing" in result.stdout and "✅ Coverage" in result.stdout
    cases = next(line for line in result.stdout.splitlines() if " generated, " in line)
    assert "failed" not in cases and "error" not in cases, cases
    statuses = {entry["status"] for entry in journal}
    assert {401, 403, 405} <= statuses, (
        f"schemathesis should have probed auth and methods: {statuses}"
    )
