"""The floor: what reading the leads costs with no framework at all.

One POST per bot with requests, the body parsed by orjson, and each lead written to stdout as
the same Airbyte RECORD message our connector writes (the lead plus `bot_id`). Anything a
connector spends beyond this is framework overhead.

    python bench/peers/raw_requests_orjson.py --config config.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import orjson
import requests

STREAM = "leads"
BATCH = 10_000


def emit_leads(session: requests.Session, base_url: str, bot_id: str) -> int:
    response = session.post(f"{base_url.rstrip('/')}/get-conversation-ids/{bot_id}", timeout=300)
    response.raise_for_status()
    leads = orjson.loads(response.content)
    emitted_at = int(time.time() * 1000)
    out = sys.stdout.buffer
    for start in range(0, len(leads), BATCH):
        lines = [
            orjson.dumps(
                {
                    "type": "RECORD",
                    "record": {
                        "stream": STREAM,
                        "data": {**lead, "bot_id": bot_id},
                        "emitted_at": emitted_at,
                    },
                }
            )
            for lead in leads[start : start + BATCH]
        ]
        out.write(b"\n".join(lines) + b"\n")
    return len(leads)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="the connector's config.json")
    args = parser.parse_args()
    config = json.loads(args.config.read_text())
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {config['api_key']}"
        session.headers["Accept"] = "application/json"
        for bot_id in config["bot_ids"]:
            emit_leads(session, config["base_url"], bot_id)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
