"""The same leads read by dlt's `rest_api` source into DuckDB, with dlt's defaults.

What an engineer who picks dlt instead of Airbyte gets out of the box: one POST per bot with a
bearer token, no pagination, normalisation and a DuckDB load. It prints `{"rows": N}` (the rows
the `leads` table holds after the load) so the bench can check nothing was lost.

    python bench/peers/dlt_rest_api.py --config config.json --work-dir DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

TABLE = "leads"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="the connector's config.json")
    parser.add_argument(
        "--work-dir", type=Path, required=True, help="an empty folder for the pipeline and DuckDB"
    )
    args = parser.parse_args()
    config = json.loads(args.config.read_text())
    # No telemetry (the bench has no internet) and no state outside the work folder.
    os.environ.setdefault("RUNTIME__DLT_TELEMETRY", "false")
    os.environ.setdefault("DLT_DATA_DIR", str(args.work_dir / "dlt-data"))

    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source(
        {
            "client": {
                "base_url": config["base_url"].rstrip("/") + "/",
                "auth": {"type": "bearer", "token": config["api_key"]},
            },
            "resources": [
                {
                    "name": f"leads_{index}",
                    "table_name": TABLE,
                    "endpoint": {
                        "path": f"get-conversation-ids/{bot_id}",
                        "method": "POST",
                        "paginator": "single_page",
                    },
                }
                for index, bot_id in enumerate(config["bot_ids"])
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_chatnode",
        destination=dlt.destinations.duckdb(str(args.work_dir / "leads.duckdb")),
        dataset_name="chatnode",
        pipelines_dir=str(args.work_dir / "pipelines"),
    )
    pipeline.run(source)
    with pipeline.sql_client() as client:
        rows = client.execute_sql(f"SELECT count(*) FROM {TABLE}")[0][0]
    print(json.dumps({"rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
