"""Seeded chat history: each lead's conversation is a pure function of (seed, bot id, session id,
the lead's created_at, the messages-per-session range, quirks).

A conversation alternates human and ai messages, human first, each 1 s to 3 min after the one
before and the first after the lead was created, so every message is later than its lead. Texts
come from tables (questions about pricing, support and demos, and their answers), with unicode,
emoji, newlines and the odd empty message. As for leads, the conforming form is written as JSON
text straight from precomputed tables, and quirks (loose timestamps, unknown fields, an
unexpected message type, local disorder) are applied to the parsed text, so both forms are the
same messages.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import orjson

from mock_server.seeded import (
    ALNUM3,
    ALNUM4,
    DAY_MS,
    DAY_PREFIX,
    MINUTE_OF_DAY,
    MS_OF_MINUTE,
    day_prefix,
    digest,
    locally_shuffled,
    parse_ms,
    quirk_timestamp,
    spec_timestamp,
    stretch,
)

DEFAULT_MESSAGES_PER_SESSION = (0, 8)
MAX_MESSAGES_PER_SESSION = 10_000
DEFAULT_RECENT_SESSIONS = 10
"""How many of a bot's most recent sessions an empty request body (`[]`) returns without `k`."""
MAX_GAP_MS = 180_000
"""A message comes at most this long after the one before it (or after the lead, for the first)."""
_AI_GAP_MS = 15_000
"""The agent answers faster than people type."""

# Random bytes per message: id (four 16-bit parts), exchange, gap.
_RECORD = struct.Struct("<HHHHBH")
# Quirk choices per message, from their own bytes so quirks never change the underlying message:
# fraction digits, offset, extra field, order key, microseconds, unexpected type.
_QUIRK_RECORD = struct.Struct("<BBBBHB")

EXCHANGES = [
    ("Hi! How much does the Pro plan cost?",
     "Hello there! The Pro plan is $49/month, or $470/year with annual billing (two months free)."),
    ("Do you offer a discount for annual billing?",
     "Yes! Annual billing saves you about 17% compared with paying monthly."),
    ("Can I book a demo for my team next week?",
     "I'd be happy to set up a demo. Could you share your email and a time that suits you?"),
    ("Is there a free trial?", "We offer a 14-day free trial, no credit card required. 🚀"),
    ("How do I reset my password?",
     "You can reset it from the login page: click “Forgot password?” and follow the email."),
    ("My widget stopped loading on our website since this morning.",
     "I'm sorry to hear that. Could you tell me the URL of the page where the widget is missing?"),
    ("Can I talk to a human, please?",
     "Of course, I'm transferring you to a member of our team now."),
    ("What integrations do you support? Slack, HubSpot, Zapier?",
     "We integrate with Slack, HubSpot, Zapier, WordPress and Shopify, and there is a REST API."),
    ("Does it work with WordPress?",
     "Yes: install our WordPress plugin, paste your bot id, and the widget appears on every page."),
    ("How many messages are included per month?",
     "Pro includes 10,000 messages per month; extra messages are billed in packs of 1,000."),
    ("Quelle est la différence entre Starter et Pro ?",
     "Starter couvre un agent et 2 000 messages par mois ; Pro en couvre cinq et 10 000 messages."),
    ("¿Tienen soporte en español?", "¡Sí! Respondo en más de 50 idiomas, incluido el español."),
    ("Gibt es einen Rabatt für gemeinnützige Organisationen?",
     "Ja, gemeinnützige Organisationen erhalten 30 % Rabatt. Schreiben Sie uns an support@example.com."),
    ("料金プランについて教えてください。", "料金プランは Starter、Pro、Enterprise の3つです。"),
    ("Thanks! 🙏", "You're welcome! Is there anything else I can help with? 😊"),
    ("ok", "Great! Let me know if you have any other questions."),
    ("Can you send me the invoice for March?\nOur VAT number is EU123456789.",
     "Sure. Invoices are under Billing → Invoices; I've also asked our team to email it to you."),
    ("We're a team of 40 — what would that cost per seat?",
     "For 40 seats we'd suggest Enterprise; I can put you in touch with sales for a quote."),
    ("Is my data stored in the EU? 🇪🇺",
     "Yes, all data is stored in the EU (Frankfurt) and encrypted at rest."),
    ("How do I train the bot on our help center articles?",
     "Here are the steps:\n1. Open Settings → Data sources\n2. Add your help center URL\n3. Click “Retrain”"),
    ("The bot answered in English but our site is in Portuguese 🤔",
     "Olá! Posso responder em português: ative o idioma em Settings → Language. 🇧🇷"),
    ("Can I cancel anytime?",
     "You can cancel anytime from Billing; you keep access until the end of the period."),
    ("What's your uptime SLA?", "Our uptime SLA is 99.9% on Pro and 99.95% on Enterprise."),
    ("Demo please! Thursday 3pm CET works for me.",
     "I've noted Thursday at 15:00 CET. You'll receive a calendar invite shortly. 📅"),
    ("Do you have an API for exporting leads?",
     "Yes: POST /v1/get-conversation-ids/{bot_id} lists your leads, and /v1/get-chats/{bot_id} their chats."),
    ("hello??", "Hello there! How can I assist you today?"),
    ("I was charged twice this month.",
     "I'm sorry about the double charge. I've flagged it for our billing team; expect a refund within a week."),
    ("Can the bot hand over to our support team during office hours?",
     "Yes: turn on live handover in Settings → Agents and set your office hours."),
    ("Where do I find my API key?", "Your API key is under Settings → API. Keep it secret!"),
    ("👍", "Glad I could help! 👋"),
    ("", "Could you rephrase that? I want to be sure I understand."),
]  # fmt: skip
"""(visitor question, agent answer): an ai message answers the human message before it."""
_SYSTEM_TEXTS = [
    "Conversation transferred to a live agent.",
    "The visitor left the chat.",
    "Lead form submitted.",
    "",
]
_EXTRA_FIELDS: list[tuple[str, list[Any]]] = [
    ("feedback", ["thumbs_up", "thumbs_down", None]),
    ("sources", [[], ["https://example.com/pricing"], ["https://example.com/docs/api"]]),
    ("tokens", [12, 87, 403]),
    ("model", ["gpt-4o-mini", "gpt-4o"]),
]


def _message_fragment(kind: str, text: str) -> str:
    """`"message":{...}` as orjson writes it, for one type and text."""
    content = orjson.dumps(text).decode()
    return f'"message":{{"data":{{"type":"{kind}","content":{content}}},"type":"{kind}"}}'


_EXCHANGE = stretch(list(range(len(EXCHANGES))))
"""A random byte picks an exchange."""
_HUMAN = [_message_fragment("human", question) for question, _ in EXCHANGES]
_AI = [_message_fragment("ai", answer) for _, answer in EXCHANGES]
_TEXTS_BY_TYPE = {
    "human": [question for question, _ in EXCHANGES],
    "ai": [answer for _, answer in EXCHANGES],
}


def message(message_id: str, kind: str, content: str, session_id: str, at: str) -> dict[str, Any]:
    """One message in the shape the spec's `Chat` example shows, keys in the spec's order."""
    return {
        "id": message_id,
        "message": {"data": {"type": kind, "content": content}, "type": kind},
        "session_id": session_id,
        "created_at": at,
    }


def _message_id(a: int, b: int, c: int, d: int) -> str:
    """15 lowercase alphanumerics from four random 16-bit numbers, like `9ds49k9cncp7bmp`."""
    return f"{ALNUM4[a]}{ALNUM4[b]}{ALNUM4[c]}{ALNUM3[d]}"


@dataclass(frozen=True)
class Conversations:
    """How a store's conversations are generated; every method is a pure function of its fields
    and arguments."""

    seed: int = 0
    per_session: tuple[int, int] = DEFAULT_MESSAGES_PER_SESSION
    """Each session has between these many messages (inclusive), drawn per session."""
    quirks: bool = False

    def __post_init__(self) -> None:
        low, high = self.per_session
        object.__setattr__(self, "per_session", (low, high))
        if not 0 <= low <= high <= MAX_MESSAGES_PER_SESSION:
            raise ValueError(
                f"messages per session {low}-{high}: need 0 <= MIN <= MAX <= "
                f"{MAX_MESSAGES_PER_SESSION}"
            )

    @property
    def span_ms(self) -> int:
        """Every generated message of a session lies within this long after its lead."""
        return self.per_session[1] * MAX_GAP_MS

    def count(self, bot_id: str, session_id: str) -> int:
        """How many messages a session starts with."""
        low, high = self.per_session
        raw = digest(self.seed, bot_id, f"chat-count:{session_id}", 4)
        return low + int.from_bytes(raw, "little") % (high - low + 1)

    def session_chunk(self, bot_id: str, session_id: str, lead_ms: int) -> bytes:
        """A session's generated messages as JSON text `{...},{...}` (no brackets; empty when it
        has none), in time order, or locally shuffled in their quirk forms."""
        count = self.count(bot_id, session_id)
        if count == 0:
            return b""
        texts = self._conforming(bot_id, session_id, lead_ms, count)
        if self.quirks:
            return orjson.dumps(self._quirky(bot_id, session_id, texts))[1:-1]
        return ",".join(texts).encode()

    def session_messages(self, bot_id: str, session_id: str, lead_ms: int) -> list[dict[str, Any]]:
        """The same messages as dicts (parsed from the fast path, so both can never disagree)."""
        return orjson.loads(b"[" + self.session_chunk(bot_id, session_id, lead_ms) + b"]")

    def _conforming(self, bot_id: str, session_id: str, lead_ms: int, count: int) -> list[str]:
        """The hot loop of a million-message body: table lookups and f-strings only."""
        raw = digest(self.seed, bot_id, f"chat:{session_id}", count * _RECORD.size)
        sid = orjson.dumps(session_id).decode()
        a4, a3, minutes, seconds, days = ALNUM4, ALNUM3, MINUTE_OF_DAY, MS_OF_MINUTE, DAY_PREFIX
        human, ai, exchange, max_gap = _HUMAN, _AI, _EXCHANGE, MAX_GAP_MS - 1000
        out = []
        at = topic = lead_ms
        for j, (a, b, c, d, pick, gap) in enumerate(_RECORD.iter_unpack(raw)):
            if j & 1:
                fragment, at = ai[topic], at + 1000 + gap % _AI_GAP_MS
            else:
                topic = exchange[pick]
                fragment, at = human[topic], at + 1000 + gap % max_gap
            day, rest = divmod(at, DAY_MS)
            minute, ms_of_minute = divmod(rest, 60_000)
            out.append(
                f'{{"id":"{a4[a]}{a4[b]}{a4[c]}{a3[d]}",{fragment},"session_id":{sid},'
                f'"created_at":"{days.get(day) or day_prefix(day)}{minutes[minute]}'
                f'{seconds[ms_of_minute]}+00:00"}}'
            )
        return out

    def _quirky(self, bot_id: str, session_id: str, texts: list[str]) -> list[dict[str, Any]]:
        """The quirk forms of a session's messages, shuffled within windows of four."""
        size = _QUIRK_RECORD.size
        raw = digest(self.seed, bot_id, f"chat-quirks:{session_id}", len(texts) * size)
        messages = orjson.loads("[" + ",".join(texts) + "]")
        keyed = []
        for k, (item, quirk) in enumerate(
            zip(messages, _QUIRK_RECORD.iter_unpack(raw), strict=True)
        ):
            _apply_quirks(item, parse_ms(item["created_at"]), quirk)
            keyed.append((quirk[3], k, item))
        return locally_shuffled(keyed, window=4)

    def appended(
        self,
        bot_id: str,
        session_id: str,
        number: int,
        at_ms: int,
        content: str | None,
        kind: str,
    ) -> dict[str, Any]:
        """The `number`th message appended to a bot at runtime: a seeded id, and a seeded text of
        its type unless `content` is given; in its quirk form when quirks are on."""
        size = _RECORD.size + _QUIRK_RECORD.size
        raw = digest(self.seed, bot_id, f"chat-append:{number}:{session_id}", size)
        a, b, c, d, pick, _ = _RECORD.unpack(raw[: _RECORD.size])
        if content is None:
            texts = _TEXTS_BY_TYPE.get(kind, _SYSTEM_TEXTS)
            content = texts[pick % len(texts)]
        item = message(_message_id(a, b, c, d), kind, content, session_id, spec_timestamp(at_ms))
        if self.quirks:
            _apply_quirks(item, at_ms, _QUIRK_RECORD.unpack(raw[_RECORD.size :]))
        return item


def _apply_quirks(item: dict[str, Any], created_ms: int, quirk: tuple[int, ...]) -> None:
    """What a loose API might send instead: a timestamp in another form (same instant), now and
    then an unknown field, and rarely a message type the spec's example does not show."""
    digits, offset_pick, extra, _, micro, odd_type = quirk
    item["created_at"] = quirk_timestamp(created_ms, micro % 1000, digits % 7, offset_pick)
    if extra < 60:
        name, values = _EXTRA_FIELDS[extra % len(_EXTRA_FIELDS)]
        item[name] = values[extra // len(_EXTRA_FIELDS) % len(values)]
    if odd_type < 12:
        content = _SYSTEM_TEXTS[odd_type % len(_SYSTEM_TEXTS)]
        item["message"] = {"data": {"type": "system", "content": content}, "type": "system"}
