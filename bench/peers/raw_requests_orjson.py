"""The floor, no framework at all: one POST per bot with requests, orjson, and each lead written
as the RECORD message our connector writes (plus `bot_id`). Beyond this is framework overhead.

    python bench/peers/raw_requests_orjson.py CONFIG.json
"""

import sys
import time
from pathlib import Path

import orjson
import requests


def main(config_path: str) -> None:
    config, out = orjson.loads(Path(config_path).read_bytes()), sys.stdout.buffer
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {config['api_key']}"
        for bot_id in config["bot_ids"]:
            url = f"{config['base_url'].rstrip('/')}/get-conversation-ids/{bot_id}"
            response = session.post(url, headers={"Accept": "application/json"}, timeout=300)
            response.raise_for_status()
            leads, emitted_at = orjson.loads(response.content), int(time.time() * 1000)
            for start in range(0, len(leads), 10_000):  # batched writes, bounded memory
                data = ({**lead, "bot_id": bot_id} for lead in leads[start : start + 10_000])
                records = ({"stream": "leads", "data": d, "emitted_at": emitted_at} for d in data)
                lines = [orjson.dumps({"type": "RECORD", "record": r}) for r in records]
                out.write(b"\n".join(lines) + b"\n")
    out.flush()


if __name__ == "__main__":
    main(*sys.argv[1:])
