"""What the mock's agent answers to a Send Message: a pure function of (seed, bot, session, turn
number, question), so a seeded sandbox replays byte for byte.

The answer is the one of the conversation table (`data.EXCHANGES`) whose question shares the most
words with what was asked (a visitor asking about "price" gets the pricing answer, not an echo),
else one of a few generic answers; `urls` and `docs` (links the answer draws on) are seeded picks,
often empty, as the spec's example shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mock_server.data import EXCHANGES, digest, uuid_text

_WORD = re.compile(r"\w{3,}")
_COMMON = frozenset(
    {"the", "and", "you", "your", "can", "for", "are", "how", "what", "does", "with"}
)
_GENERIC = [
    "Thanks for your message! Could you tell me a little more so I can point you to the right "
    "answer?",
    "Good question. I can help with pricing, plans, integrations, billing and support; which "
    "one is it about?",
    "I'm not sure I understood. Could you rephrase, or ask me about our plans, the widget or "
    "our API?",
    "Let me check that for you. In the meantime, our help center covers most setup questions.",
]
_URLS = ["https://example.com/pricing", "https://example.com/docs/api", "https://example.com/help"]
_DOCS = ["https://example.com/files/product-guide.pdf", "https://example.com/files/pricing.pdf"]


@dataclass(frozen=True)
class Reply:
    """The agent's answer: its text, the links it cites, and the id the Send Message response
    gives it (a UUID, the spec's example form)."""

    id: str
    content: str
    urls: tuple[str, ...]
    docs: tuple[str, ...]


def words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower())) - _COMMON


_QUESTION_WORDS = [words(question) for question, _ in EXCHANGES]


def reply(seed: int, bot_id: str, session_id: str, number: int, question: str) -> Reply:
    """The answer to the `number`th message sent to a bot (any session), asked in `session_id`;
    a seeded pick breaks ties among the table's best answers."""
    raw = digest(seed, bot_id, f"reply:{number}:{session_id}", 20)
    asked = words(question)
    scores = [len(asked & known) for known in _QUESTION_WORDS]
    best = [i for i, score in enumerate(scores) if score == max(scores) > 0]
    text = EXCHANGES[best[raw[0] % len(best)]][1] if best else _GENERIC[raw[0] % len(_GENERIC)]
    urls = tuple(_URLS[i] for i in range(len(_URLS)) if raw[1] >> i & 1 and raw[2] < 96)
    docs = (_DOCS[raw[3] % len(_DOCS)],) if raw[3] < 40 else ()
    return Reply(uuid_text(raw[4:]), text, urls, docs)
