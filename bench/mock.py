"""Our mock server as a separate process, as a benchmark needs it.

In-process (`MockServer`) the server would share the GIL and the RSS of the client it serves;
as its own process it costs what it would cost in a test rig, and its memory can be measured.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.procs import ProcessGroup, tail

_LISTENING = re.compile(rb"listening on (http://\S+)")
START_TIMEOUT_SECONDS = 60.0


@dataclass
class RunningServer:
    """A started server: where it answers and which process serves it."""

    process: subprocess.Popen[bytes]
    base_url: str
    """`http://127.0.0.1:PORT/v1`, the connector's `base_url`."""

    @property
    def root_url(self) -> str:
        return self.base_url.rsplit("/v1", 1)[0]

    @property
    def pid(self) -> int:
        return self.process.pid


def start_mock_server(
    group: ProcessGroup,
    executable: Path,
    *,
    api_key: str,
    bot_id: str,
    leads: int,
    seed: int,
    log_dir: Path,
) -> RunningServer:
    """Start `chatnode-mock-server` on a free port and wait for its `listening on` line."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / "mock-server.out", log_dir / "mock-server.err"
    argv = [
        str(executable),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--api-key",
        api_key,
        "--bot",
        bot_id,
        "--leads",
        str(leads),
        "--seed",
        str(seed),
    ]
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = group.start(argv, stdout=out, stderr=err)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        match = _LISTENING.search(out_path.read_bytes())
        if match:
            return RunningServer(process, match.group(1).decode())
        if process.poll() is not None:
            break
        time.sleep(0.05)
    group.stop(process)
    raise RuntimeError(
        f"chatnode-mock-server did not print its address within {START_TIMEOUT_SECONDS:.0f} s "
        f"(exit code {process.returncode}): {tail(err_path)}"
    )


def add_bot(server: RunningServer, bot_id: str, leads: int) -> None:
    """A second bot on a running server, through the admin API (the CLI gives every bot the
    same count, and the latency probe needs a small bot beside the big one)."""
    response = httpx.post(
        f"{server.root_url}/_admin/bots", json={"bot_id": bot_id, "count": leads}, timeout=30
    )
    response.raise_for_status()
