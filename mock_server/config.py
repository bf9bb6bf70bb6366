"""The one home of the mock server's configuration: the CLI, the fixtures and the Python API all
build a `MockConfig`. Each rule on it is checked once, as a ValueError every caller reports."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from mock_server.data import DEFAULT_MESSAGES_PER_SESSION, Conversations
from mock_server.faults import FaultRule

ADMIN_TOKEN_ENV = "CHATNODE_MOCK_ADMIN_TOKEN"
DEFAULT_API_KEY = "mock-secret-key"
DEFAULT_BOTS = ("bot-alpha", "bot-beta")

BotScope = frozenset[str] | None
"""The bots an API key may read: a set of bot ids, or None for every bot."""


@dataclass(frozen=True)
class MockConfig:
    """Everything that decides what the mock serves; immutable, so a reset can go back to it."""

    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port."""
    api_keys: Mapping[str, BotScope] = field(
        default_factory=lambda: MappingProxyType({DEFAULT_API_KEY: None})
    )
    bots: Sequence[str] = DEFAULT_BOTS
    leads_per_bot: int = 100
    seed: int = 0
    messages_per_session: tuple[int, int] = DEFAULT_MESSAGES_PER_SESSION
    """(MIN, MAX): each lead's session starts with a seeded number of chat messages in this range."""
    quirks: bool = False
    """Serve leads and chats the way a sloppy real API might (see `data.py`)."""
    faults: Sequence[FaultRule] = ()
    """The fault plan at start and after every reset."""
    validate_responses: bool = False
    """Check every spec-documented response against the spec with openapi-core before sending it;
    a violation becomes a 500 `invalid_response` error. Costs a full parse: for tests."""
    allow_request_body: bool = False
    """The spec's operation takes no body, so by default a non-empty body is a 400; True ignores it."""
    allow_unknown_fields: bool = False
    """A body field the spec does not declare (Send Message's declares `message`,
    `chat_session_id`, `streaming`) is a 400 `unknown_field` by default; True ignores it."""
    list_sent_sessions: bool = True
    """Whether Get Leads lists a session that Send Message started (without contact fields).
    ChatNode does not publish whether it does; False keeps such sessions out of Get Leads (Get
    Chat History still serves them by id)."""
    journal_limit: int = 10_000
    """The request journal keeps the newest entries up to this many."""
    log_level: str = "warning"
    admin_token: str | None = field(default=None, repr=False)
    """When set, every `/_admin/` request needs `Authorization: Bearer <admin_token>`. Required to
    bind anywhere but loopback: whoever reaches the admin API can rewrite what the mock serves."""

    def __post_init__(self) -> None:
        if self.admin_token is not None and not self.admin_token:
            raise ValueError("admin_token must not be empty; use None to leave /_admin/ open")
        if self.admin_token is None and not is_loopback(self.host):
            raise ValueError(
                f"host {self.host!r} is not a loopback address: set admin_token (--admin-token "
                f"or ${ADMIN_TOKEN_ENV}) to lock the /_admin/ API before serving it to the "
                "network, or bind to 127.0.0.1"
            )
        if not self.api_keys:
            raise ValueError("MockConfig needs at least one API key")
        if self.leads_per_bot < 0:
            raise ValueError(f"leads_per_bot must be >= 0, got {self.leads_per_bot}")
        if len(set(self.bots)) != len(self.bots):
            raise ValueError(f"bot ids must be unique, got {list(self.bots)}")
        per_session = parse_messages_per_session(self.messages_per_session)
        object.__setattr__(self, "messages_per_session", per_session)
        object.__setattr__(self, "bots", tuple(self.bots))
        object.__setattr__(self, "faults", tuple(self.faults))
        object.__setattr__(
            self,
            "api_keys",
            MappingProxyType(
                {k: None if v is None else frozenset(v) for k, v in self.api_keys.items()}
            ),
        )


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or `localhost`: only this machine can connect."""
    try:
        return host.lower() == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_messages_per_session(value: str | Sequence[int]) -> tuple[int, int]:
    """`N` or `MIN-MAX` (the CLI's `--messages`), or a (MIN, MAX) pair, checked by the one rule,
    `data.Conversations`'s, for the CLI, `MockConfig`, the fixtures and the demo."""
    if isinstance(value, str):
        low, sep, high = value.strip().partition("-")
        try:
            value = (int(low), int(high) if sep else int(low))
        except ValueError:
            raise ValueError(
                f"--messages {value!r}: use N or MIN-MAX with whole numbers, e.g. 100 or 0-8"
            ) from None
    return Conversations(per_session=(value[0], value[1])).per_session


def parse_api_keys(texts: Sequence[str]) -> dict[str, BotScope]:
    """`--api-key` values: `KEY` (every bot) or `KEY:bot1,bot2` (only those bots). A key given
    twice is an error rather than a silent override; no message repeats a key."""
    keys: dict[str, BotScope] = {}
    for text in texts:
        key, sep, bots = text.partition(":")
        scope = frozenset(b.strip() for b in bots.split(",") if b.strip()) if sep else None
        if not key or scope == frozenset():
            problem = "has an empty key" if not key else "lists no bots after ':'"
            raise ValueError(f"an --api-key value {problem}; use KEY or KEY:bot1,bot2")
        if key in keys:
            raise ValueError("the same API key is given twice to --api-key")
        keys[key] = scope
    return keys
