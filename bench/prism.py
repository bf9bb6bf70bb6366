"""Prism 5, the usual OpenAPI mock, as the server suite's peer: installed locally with npm, fed
the same spec with the leads our server serves as the response example, run as its own process.

Prism serves a response's examples verbatim in static mode; the spec itself only has property
examples (Prism would build one lead from them), so the bench adds an `examples` entry holding
exactly the bytes our server sent for the same bot. Both servers then answer with the same body.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.config import BENCH_DIR
from bench.procs import ProcessGroup, tail
from mock_server import spec

PRISM_PACKAGE = "@stoplight/prism-cli@5"
PRISM_PREFIX = BENCH_DIR / ".prism"
PRISM_BIN = PRISM_PREFIX / "node_modules" / ".bin" / "prism"
EXAMPLE_NAME = "bench"
_PLACEHOLDER = "__BENCH_LEADS_PLACEHOLDER__"
_LISTENING = re.compile(rb"Prism is listening on (http://\S+)")
NPM_TIMEOUT_SECONDS = 600


def find_or_install_prism(install: bool, log_path: Path) -> tuple[Path | None, str]:
    """Prism's executable under bench/.prism, installing it with npm when allowed."""
    if PRISM_BIN.exists():
        return PRISM_BIN, f"Prism {prism_version(PRISM_BIN)} from bench/.prism"
    if not install:
        return None, "Prism is not installed in bench/.prism and installing was not allowed"
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm missing"
    argv = [npm, "install", "--prefix", str(PRISM_PREFIX), PRISM_PACKAGE, "--no-audit", "--no-fund"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        try:
            done = subprocess.run(
                argv, stdout=log, stderr=log, timeout=NPM_TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            return None, f"npm install timed out after {NPM_TIMEOUT_SECONDS} s"
    if done.returncode != 0 or not PRISM_BIN.exists():
        return None, f"npm install failed (exit {done.returncode}): {tail(log_path, 300)}"
    return PRISM_BIN, f"Prism {prism_version(PRISM_BIN)} installed by the bench with npm"


def prism_version(executable: Path) -> str:
    try:
        done = subprocess.run(
            [str(executable), "--version"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return "(version unknown)"
    return done.stdout.strip() or "(version unknown)"


def write_spec_with_example(body_path: Path, out_path: Path) -> None:
    """The project's spec, plus the leads in `body_path` (a JSON array, as our server sent it)
    as the 200 response's example. The body is spliced in as bytes: a million leads need not be
    parsed to be copied."""
    document = spec.spec_document()
    post = document["paths"][spec.LEADS_PATH_TEMPLATE]["post"]
    content = post["responses"]["200"]["content"]["application/json"]
    content["examples"] = {EXAMPLE_NAME: {"value": _PLACEHOLDER}}
    head, _, rest = json.dumps(document).partition(json.dumps(_PLACEHOLDER))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("wb") as out, body_path.open("rb") as body:
        out.write(head.encode())
        shutil.copyfileobj(body, out, 1 << 20)
        out.write(rest.encode())


def free_port() -> int:
    """A port free right now on 127.0.0.1 (Prism has no `--port 0`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningPrism:
    process: subprocess.Popen[bytes]
    root_url: str

    @property
    def base_url(self) -> str:
        """Prism serves the spec's paths at its root, without the server URL's `/v1`."""
        return self.root_url

    @property
    def pid(self) -> int:
        return self.process.pid


def start_prism(
    group: ProcessGroup, executable: Path, spec_path: Path, log_dir: Path, timeout: float
) -> RunningPrism:
    """`prism mock SPEC -h 127.0.0.1 -p PORT`, waiting for its `listening` line."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / "prism.out", log_dir / "prism.err"
    argv = [str(executable), "mock", str(spec_path), "-h", "127.0.0.1", "-p", str(free_port())]
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = group.start(argv, stdout=out, stderr=err)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = _LISTENING.search(out_path.read_bytes())
        if match:
            return RunningPrism(process, match.group(1).decode().rstrip("/"))
        if process.poll() is not None:
            break
        time.sleep(0.1)
    group.stop(process)
    state = "exited" if process.returncode is not None else f"not listening after {timeout:.0f} s"
    raise RuntimeError(f"Prism {state}: {tail(err_path, 300) or tail(out_path, 300)}")
