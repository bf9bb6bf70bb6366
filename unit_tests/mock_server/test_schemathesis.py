"""schemathesis drives the live server from the spec; every response must conform (status codes,
content types, bodies, auth enforced, 405 for undeclared methods), data the spec allows must be
accepted, and data it forbids (a chats body that is not an array of strings, a `k` that is not an
integer) must be rejected.

Runs the `st` CLI's examples, coverage and fuzzing phases (cases derived from the spec; hypothesis
is pinned below 6.170.10 in pyproject.toml because later releases break hypothesis-jsonschema,
which the fuzzer uses), once per data mode, every case on a bot that exists (a random `bot_id`
would only ever meet the spec's 403). Negative cases are rejected with 400, a status the spec
does not document (it documents no error for bad input), so the negative run leaves out
`status_code_conformance` and relies on `negative_data_rejection` instead.

Send Message's `streaming: true` is valid data the mock refuses by design (ChatNode publishes no
streaming wire format; `test_send_message.py` checks the 400), so the positive run leaves such
bodies out (sends `streaming: false` instead) with a schemathesis hook; every other Send Message body the spec allows must get 200.
The spec lets a body carry fields it does not declare, which the mock refuses by default (400
`unknown_field`, to catch a misspelt `chat_session_id`): the positive run opts into
`allow_unknown_fields`, the negative one stays strict.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from chatnode_spec.documents import api_document_copy
from mock_server.server import MockServer

NO_STREAMING_HOOK = """
import schemathesis


@schemathesis.hook
def before_call(context, case, **kwargs):
    if isinstance(case.body, dict) and case.body.get("streaming") is True:
        case.body["streaming"] = False
"""
"""Every phase calls `before_call` (the coverage phase applies no filter hooks)."""


@pytest.mark.parametrize(
    ("mode", "excluded", "probed"),
    [
        ("positive", [], {200, 401}),
        ("negative", ["--exclude-checks", "status_code_conformance"], {400, 401, 405}),
    ],
)
def test_live_server_passes_schemathesis(
    tmp_path: Path, mode: str, excluded: list[str], probed: set[int]
) -> None:
    st = Path(sys.executable).with_name("st")
    document = tmp_path / "chatnode.openapi.json"
    document.write_bytes(orjson.dumps(api_document_copy()))
    with MockServer(leads_per_bot=10, allow_unknown_fields=mode == "positive") as server:
        config = tmp_path / "schemathesis.toml"
        config.write_text(f'[parameters]\n"path.bot_id" = "{server.config.bots[0]}"\n')
        (tmp_path / "no_streaming_hook.py").write_text(NO_STREAMING_HOOK)
        hooks = {"SCHEMATHESIS_HOOKS": "no_streaming_hook", "PYTHONPATH": str(tmp_path)}
        result = subprocess.run(
            [
                str(st), "--config-file", str(config), "run", str(document),
                "--url", server.base_url,
                "-H", f"Authorization: Bearer {server.api_key}",
                "--phases", "examples,coverage,fuzzing",
                "--mode", mode,
                "--checks", "all",
                *excluded,
                "--seed", "1",
                "--max-examples", "50",
            ],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env=os.environ | (hooks if mode == "positive" else {}),
        )  # fmt: skip
        journal = server.journal()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "✅ Fuzzing" in result.stdout and "✅ Coverage" in result.stdout
    cases = next(line for line in result.stdout.splitlines() if " generated, " in line)
    assert "failed" not in cases and "error" not in cases, cases
    routes = {entry["path"].split("/")[2] for entry in journal}
    assert routes == {"get-conversation-ids", "get-chats", "auth_me", server.config.bots[0]}
    statuses = {entry["status"] for entry in journal}
    assert probed <= statuses, f"schemathesis should have probed {probed}: {statuses}"
