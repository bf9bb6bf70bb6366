"""Starting a `chatnode-mock-server` process for a test: the dev one, or a wheel's in its own venv."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

LISTENING = re.compile(r"^ChatNode mock server listening on (http://127\.0\.0\.1:\d+/v1)$")
"""The first line the server prints once it accepts requests."""


@contextmanager
def mock_server_process(
    argv: Sequence[str], **popen: Any
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The server started with `argv`, and its base URL read from its first line; killed at
    the end if it still runs. A first line that is not the listening line fails the test with
    the server's stderr, which says why it did not start."""
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        line = process.stdout.readline().strip()
        match = LISTENING.match(line)
        if not match:
            why = process.stderr.read() if process.poll() is not None else ""
            raise AssertionError(f"first line {line!r}; stderr: {why}")
        yield process, match.group(1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
