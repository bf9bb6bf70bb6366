"""The demo's mock ChatNode API: `chatnode-mock-server` as a child process."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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
