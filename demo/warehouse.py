"""PyAirbyte runs `source-chatnode` (the console script, as a user installs it) into a local
DuckDB cache; SQL over the cached tables summarises both streams per bot."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

SOURCE_CHATNODE = str(Path(sys.executable).with_name("source-chatnode"))
SUMMARY_SQL = """
    SELECT bot_id, leads, to_agent, coalesce(messages, 0) AS messages,
           printf('%.2f', coalesce(messages, 0) / leads) AS per_lead,
           coalesce(human, 0) AS human, coalesce(ai, 0) AS ai,
           coalesce(messages - human - ai, 0) AS other
    FROM (SELECT bot_id, count(*) AS leads, count(*) FILTER (WHERE for_agent) AS to_agent
          FROM leads GROUP BY bot_id)
    LEFT JOIN (SELECT bot_id, count(*) AS messages,
                      count(*) FILTER (WHERE message->>'$.type' = 'human') AS human,
                      count(*) FILTER (WHERE message->>'$.type' = 'ai') AS ai
               FROM chats GROUP BY bot_id) USING (bot_id)
    ORDER BY bot_id
"""
"""Per bot: leads (and how many asked for an agent), messages, the mean per lead, and messages by
`message.type`. `message` is cached as JSON; a type other than human/ai (or none) counts as other."""


def load_and_summarise(config: dict[str, Any], cache_dir: Path) -> str:
    """Read every stream through PyAirbyte into a fresh DuckDB cache (offline: the connector is
    the local executable, no registry, no telemetry); the per-bot summary as a text table."""
    os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    import airbyte
    import pandas
    import sqlalchemy

    source = airbyte.get_source("source-chatnode", config=config, local_executable=SOURCE_CHATNODE)
    source.select_all_streams()
    cache = airbyte.new_local_cache("chatnode_demo", cache_dir=str(cache_dir))
    source.read(cache=cache)
    with cache.get_sql_engine().connect() as connection:
        summary = pandas.read_sql_query(sqlalchemy.text(SUMMARY_SQL), connection)
    return summary.to_string(index=False)
