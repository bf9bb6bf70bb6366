"""PyAirbyte reads both streams into a local DuckDB cache; SQL over the cached tables summarises
them per bot."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from demo.connector import SOURCE_CHATNODE

STREAMS = ("leads", "chats")

SUMMARY_HEADERS = ("bot_id", "leads", "to_agent", "messages", "per_lead", "human", "ai", "other")
SUMMARY_SQL = """
    WITH lead_counts AS (
        SELECT bot_id, count(*) AS leads,
               count(*) FILTER (WHERE for_agent) AS to_agent
        FROM leads GROUP BY bot_id
    ),
    typed AS (
        SELECT bot_id, json_extract_string(message, '$.type') AS type FROM chats
    ),
    message_counts AS (
        SELECT bot_id, count(*) AS messages,
               count(*) FILTER (WHERE type = 'human') AS human,
               count(*) FILTER (WHERE type = 'ai') AS ai,
               count(*) FILTER (WHERE type IS NULL OR type NOT IN ('human', 'ai')) AS other
        FROM typed GROUP BY bot_id
    )
    SELECT bot_id, leads, to_agent, coalesce(messages, 0) AS messages,
           printf('%.2f', coalesce(messages, 0) / leads) AS per_lead,
           coalesce(human, 0) AS human, coalesce(ai, 0) AS ai, coalesce(other, 0) AS other
    FROM lead_counts LEFT JOIN message_counts USING (bot_id)
    ORDER BY bot_id
"""
"""Per bot: leads (and how many asked for an agent), messages, the mean per lead, and messages by
`message.type`. `message` is cached as JSON; a type other than human/ai (or none) counts as other."""


def load_and_summarise(config: dict[str, Any], cache_dir: Path) -> list[tuple[Any, ...]]:
    """Read every stream through PyAirbyte into a fresh DuckDB cache (offline: the connector is
    the local executable, no registry, no telemetry); return the per-bot summary rows."""
    os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    import airbyte
    import sqlalchemy

    source = airbyte.get_source("source-chatnode", config=config, local_executable=SOURCE_CHATNODE)
    source.select_streams(list(STREAMS))
    cache = airbyte.new_local_cache("chatnode_demo", cache_dir=str(cache_dir))
    source.read(cache=cache)
    with cache.get_sql_engine().connect() as connection:
        return [tuple(row) for row in connection.execute(sqlalchemy.text(SUMMARY_SQL))]
