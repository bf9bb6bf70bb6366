"""The demo's mock ChatNode API: `chatnode-mock-server` as a child process, and the few admin calls
that make its data move between two incremental reads."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

MOCK_SERVER = str(Path(sys.executable).with_name("chatnode-mock-server"))
_LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass(frozen=True)
class MockData:
    """What the mock serves at start, as its CLI flags."""

    api_key: str
    bots: tuple[str, ...]
    leads_per_bot: int
    messages_per_session: tuple[int, int]
    seed: int

    def cli_args(self) -> list[str]:
        low, high = self.messages_per_session
        args = ["--api-key", self.api_key, "--leads", str(self.leads_per_bot)]
        args += ["--messages", f"{low}-{high}", "--seed", str(self.seed)]
        for bot in self.bots:
            args += ["--bot", bot]
        return args


@contextmanager
def mock_server(data: MockData) -> Iterator[str]:
    """Run `chatnode-mock-server` on a free loopback port; yield its base URL; always stop it."""
    args = [MOCK_SERVER, "--host", "127.0.0.1", "--port", "0", *data.cli_args()]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            match = _LISTENING.search(line)
            if match:
                yield match.group(1)
                return
            seen.append(line)
        raise RuntimeError(
            f"chatnode-mock-server exited early with code {process.wait()}: {''.join(seen)[-500:]}"
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class MockAdmin:
    """The mock's `/_admin/` API (open: the mock listens on loopback only, without a token)."""

    def __init__(self, base_url: str) -> None:
        self.root_url = base_url.rsplit("/v1", 1)[0] + "/_admin"

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = httpx.post(self.root_url + path, json=body)
        if response.is_error:
            raise RuntimeError(f"mock admin POST {path}: {response.status_code} {response.text}")
        return response.json()

    def append_leads(self, bot_id: str, count: int) -> list[dict[str, Any]]:
        """`count` new leads created after every lead of the bot; returns them."""
        return self._post(f"/bots/{bot_id}/leads", {"count": count})["appended"]

    def append_message(
        self, bot_id: str, session_id: str, content: str, kind: str
    ) -> dict[str, Any]:
        """A message added to an existing conversation, later than every message of the bot;
        returns it."""
        path = f"/bots/{bot_id}/sessions/{session_id}/messages"
        return self._post(path, {"content": content, "type": kind})["appended"]
