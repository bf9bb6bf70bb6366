"""What one run of the checker needs, and the rule that keeps its secret out of every output.

The command line (or a test) builds a `CheckConfig`; nothing else reads flags or the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

API_KEY_ENV = "CHATNODE_API_KEY"
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class CheckConfig:
    """Everything a run needs, built from the command line (or by a test)."""

    base_url: str
    api_key: str = field(repr=False)
    """Never in a repr, a log line or a report."""
    bots: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    probes: bool = True
    strict: bool = False
    send_test_message: bool = False
    """Also call Send Message once per bot and look for it in Get Chat History: writes a
    conversation into the live account and counts against its message quota."""


def redact(text: str, secret: str) -> str:
    """The text with every occurrence of the secret masked: the last line of defence."""
    return text.replace(secret, "***") if secret else text
