"""What the checker calls: the spec's operations it checks for each bot, and the probes. Checking
another operation is one more `CheckedOperation` row; the spec supplies its method and responses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx
import orjson

from chatnode_contract.report import Finding, Kind
from chatnode_spec import Operation, operation_at

CHATS_SESSIONS_PER_CHECK = 20
"""The chats call asks for the messages of at most this many of the bot's sessions: enough to
see every field, little enough for any API to answer at once."""


@dataclass(frozen=True)
class Skip:
    """A row that cannot be called for this bot; the reason goes into the report."""

    reason: str


Earlier = Mapping[str, httpx.Response]
"""The bot's earlier responses, keyed by the `CheckedOperation.name` that drew them."""


def _json(response: httpx.Response | None, *keys: str) -> Any:
    """The body of an earlier 200 response, or the value at `keys` in it; None where there is
    none (not called, another status, not JSON, not an object)."""
    try:
        body = orjson.loads(response.content) if response and response.status_code == 200 else None
    except orjson.JSONDecodeError:
        return None
    return _at(body, *keys)


def _at(value: Any, *keys: str) -> Any:
    """`value[k1][k2]...`, or None where a level is not an object."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def leads_session_ids(earlier: Earlier) -> list[str] | Skip:
    """The first CHATS_SESSIONS_PER_CHECK distinct `session_id`s of the bot's leads, in order.
    Never `[]`: an empty array asks for the bot's recent conversations, not for sessions."""
    leads = _json(earlier.get("leads"))
    if not isinstance(leads, list):
        return Skip("no session ids to ask for: the leads call gave no array of leads")
    ids = (_at(lead, "session_id") for lead in leads)
    distinct = list(dict.fromkeys(i for i in ids if isinstance(i, str)))
    if not distinct:
        return Skip("no session ids to ask for: the bot has no leads")
    return distinct[:CHATS_SESSIONS_PER_CHECK]


TEST_MESSAGE = "chatnode-contract test message: please ignore"
"""What `--send-test-message` sends as the visitor, once per bot, in a new conversation."""


def sent_session(earlier: Earlier) -> list[str] | Skip:
    """The session Send Message answered with, to find the test message in its history."""
    session = _json(earlier.get("send"), "chat_session_id")
    if not isinstance(session, str) or not session:
        return Skip("no session to look in: Send Message gave no chat_session_id")
    return [session]


def missing_turn(response: httpx.Response, earlier: Earlier) -> tuple[Finding, ...]:
    """A finding unless Get Chat History holds the test message (human) and then the reply Send
    Message gave (ai). Values are ours or the bot's reply, so neither is printed; a body that is
    not JSON is a finding of its own already."""
    reply, messages = _json(earlier.get("send"), "message"), _json(response)
    if not isinstance(reply, str) or messages is None:
        return ()
    listed = messages if isinstance(messages, list) else []
    said = [(_at(m, "message", "type"), _at(m, "message", "data", "content")) for m in listed]
    asked = ("human", TEST_MESSAGE)
    if asked in said and ("ai", reply) in said[said.index(asked) :]:
        return ()
    detail = "Get Chat History does not hold the test message and then Send Message's reply"
    return (Finding("(test message)", Kind.MISSING_SENT_MESSAGE, detail, 1),)


@dataclass(frozen=True)
class CheckedOperation:
    """One operation of the spec, called with the real key for every `--bot`."""

    name: str
    """Names its response for the rows after it, e.g. `leads`."""
    path_template: str
    """As in the spec's `paths`; `{bot_id}` is the bot."""
    expected_status: int
    item: str
    why: str
    """What the call is for, as `--help` and docs/contract.md list it."""
    body: Callable[[Earlier], Any] = lambda earlier: None
    """Its JSON request body from the earlier responses: None sends none, a `Skip` no call."""
    writes: bool = False
    """Changes the live account: called only with `--send-test-message`."""
    verify: Callable[[httpx.Response, Earlier], tuple[Finding, ...]] = lambda response, earlier: ()
    """Findings of the call's own beyond the spec's, from its response and the earlier ones."""

    @property
    def operation(self) -> Operation:
        return operation_at(self.path_template)

    def path(self, bot: str) -> str:
        """The path template with the bot filled in (`/auth_me` names none)."""
        return self.path_template.replace("{bot_id}", quote(bot, safe=""))

    @property
    def title(self) -> str:
        """`POST /get-conversation-ids/{bot_id}`, as the report heads it."""
        return f"{self.operation.method} {self.path_template}"


LEADS = CheckedOperation("leads", "/get-conversation-ids/{bot_id}", 200, "lead", "the bot's leads")
CHECKED_OPERATIONS: tuple[CheckedOperation, ...] = (
    LEADS,
    CheckedOperation(
        "chats", "/get-chats/{bot_id}", 200, "message",
        f"the messages of the first {CHATS_SESSIONS_PER_CHECK} session ids of those leads; skipped "
        "for a bot without leads (an empty array would ask for its recent chats instead)",
        leads_session_ids,
    ),
    CheckedOperation(
        "auth", "/auth_me", 200, "team",
        "Authenticate Me, read-only; ChatNode publishes no schema for it, so the bundled one is "
        "ASSUMED and its drift is what the live endpoint really answers",
    ),
    CheckedOperation(
        "send", "/{bot_id}", 200, "reply",
        "only with --send-test-message: Send Message, a new conversation; WRITES INTO THE LIVE "
        "ACCOUNT and counts against its message quota",
        lambda earlier: {"message": TEST_MESSAGE}, writes=True,
    ),
    CheckedOperation(
        "sent", "/get-chats/{bot_id}", 200, "message",
        "only with --send-test-message: that session's history must hold the test message, "
        "then the reply",
        sent_session, writes=True, verify=missing_turn,
    ),
)  # fmt: skip
"""Called in this order for each bot, so a row may build its request body on the responses
before it, or `Skip` when they give it nothing to ask."""


Credentials = Literal["none", "invalid", "real"]
CREDENTIALS: Mapping[Credentials, str] = dict(
    none="none", invalid="a made-up token", real="your key"
)
"""What a call sends, as the reference lists it: no Authorization header, a made-up token, the key."""


@dataclass(frozen=True)
class Probe:
    """A call made to draw one of the spec's documented error responses."""

    name: str
    call: CheckedOperation
    expected_status: int
    description: str
    credentials: Credentials
    bot: Literal["first", "unknown"]
    """The first --bot, or a random id that cannot exist."""


PROBES: tuple[Probe, ...] = (
    Probe("missing_key", LEADS, 401, "no bearer token", "none", "first"),
    Probe("invalid_key", LEADS, 401, "a made-up bearer token", "invalid", "first"),
    Probe("unknown_bot", LEADS, 403, "the real key, a bot id that cannot exist", "real", "unknown"),
)
"""Each probe runs only when the spec documents its status for its operation."""
