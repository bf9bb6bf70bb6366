"""End users chatting with the demo's bots through Send Message (`POST /v1/{bot_id}`), as a
website widget or a WhatsApp bridge would: new conversations, and a follow-up in an old one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

QUESTIONS = (
    "Hi! How much does the Pro plan cost?",
    "Is there a free trial?",
    "Can I book a demo for my team next week?",
    "Does it work with WordPress?",
    "Where do I find my API key?",
)
"""What the demo's new end users ask, in turn."""
FOLLOW_UP = "Hi again! Is the annual discount still available? 🙂"
"""What a returning end user asks in each bot's oldest conversation."""


@dataclass(frozen=True)
class Turn:
    """One message sent through Send Message and the bot's answer."""

    bot_id: str
    session_id: str
    question: str
    reply: str


def question_of(user: int) -> str:
    return QUESTIONS[user % len(QUESTIONS)]


class EndUsers:
    """A ChatNode client pointed at the mock, sending as the bots' visitors."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.client = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
        )

    def say(self, bot_id: str, message: str, session_id: str | None = None) -> Turn:
        """Send one message (in a new conversation without `session_id`); the bot's answer."""
        body: dict[str, Any] = {"message": message}
        if session_id is not None:
            body["chat_session_id"] = session_id
        response = self.client.post(f"/{bot_id}", json=body)
        if response.status_code != 200:
            raise RuntimeError(f"Send Message to {bot_id}: {response.status_code} {response.text}")
        answer = response.json()
        return Turn(bot_id, answer["chat_session_id"], message, answer["message"])

    def chat(self, bots: list[str], new_users: int, old_sessions: dict[str, str]) -> list[Turn]:
        """Per bot, `new_users` visitors start a conversation each, then a returning visitor
        follows up in the bot's old session."""
        turns = []
        for bot_id in bots:
            turns += [self.say(bot_id, question_of(user)) for user in range(new_users)]
            turns.append(self.say(bot_id, FOLLOW_UP, old_sessions[bot_id]))
        return turns

    def close(self) -> None:
        self.client.close()
