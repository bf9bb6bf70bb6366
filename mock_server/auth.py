"""Bearer authentication: which configured key a request carries, which bots that key reads, and
the team it belongs to (what `GET /auth_me` answers)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from mock_server.config import BotScope
from mock_server.data import digest, uuid_text


class AuthOutcome(Enum):
    """What the journal records about a request's credentials (never the credentials)."""

    NOT_CHECKED = "not_checked"
    MISSING = "missing"
    UNKNOWN = "unknown"
    FORBIDDEN = "forbidden"
    OK = "ok"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None when absent or another scheme."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def admin_allowed(token: str | None, admin_token: str | None) -> bool:
    """Whether a request's bearer token opens the admin API: always when no admin token is set,
    else only the exact token, compared in constant time."""
    return admin_token is None or (
        token is not None and hmac.compare_digest(token.encode(), admin_token.encode())
    )


@dataclass(frozen=True)
class KeyRing:
    """The configured API keys and the bots each may read."""

    keys: Mapping[str, BotScope]

    def check(self, token: str | None, bot_id: str | None, bot_exists: bool) -> AuthOutcome:
        """MISSING/UNKNOWN mean 401; FORBIDDEN (out of the key's scope, or no such bot) means 403.
        `bot_id` None is a request about the key itself (`/auth_me`): any known key is OK. The
        token is compared with every key in constant time, without stopping at a match, so the
        time taken does not tell which key was right."""
        if token is None:
            return AuthOutcome.MISSING
        presented = token.encode()
        scopes = [s for k, s in self.keys.items() if hmac.compare_digest(presented, k.encode())]
        if not scopes:
            return AuthOutcome.UNKNOWN
        if bot_id is None:
            return AuthOutcome.OK
        if not bot_exists or (scopes[0] is not None and bot_id not in scopes[0]):
            return AuthOutcome.FORBIDDEN
        return AuthOutcome.OK


_TEAM_NAMES = [
    "Acme Support", "Globex Customer Care", "Initech Helpdesk", "Umbrella Sales",
    "Hooli Growth", "Northwind Service Desk", "Contoso Success", "Fabrikam Care",
]  # fmt: skip


def team(seed: int) -> dict[str, Any]:
    """The team every key belongs to, as `GET /auth_me` answers it, a pure function of the seed.
    The shape is ASSUMED: ChatNode publishes none (see `chatnode_spec/assumed/`)."""
    raw = digest(seed, "", "team", 21)
    return {
        "id": 1000 + int.from_bytes(raw[:4], "little") % 90_000,
        "name": _TEAM_NAMES[raw[20] % len(_TEAM_NAMES)],
        "slug": uuid_text(raw[4:20]),
    }
