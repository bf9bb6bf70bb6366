"""The two dlt peers: one bot's leads loaded by dlt into DuckDB. Prints `{"rows": N}`, the rows
the `leads` table holds after the load, so the bench can check nothing was lost.

- `rest_api`: what picking dlt instead of Airbyte gives out of the box, its `rest_api` source
  (one POST per bot, bearer token, no pagination);
- `source_chatnode`: dlt through this connector, `source_chatnode.dlt.chatnode` running the
  declarative source in process (merge on the composite key, a first run with no state).

Both load through jsonl files: with dlt's default for DuckDB (insert_values, files of SQL INSERT
statements) merging 50k leads took 30 s and 630 MB on the shared 2-core machine, with jsonl 6 s
and 300 MB; the loader's cost would bury the readers' difference.

    python bench/peers/dlt_duckdb.py rest_api|source_chatnode CONFIG.json WORK_DIR
"""

import json
import os
import sys
from pathlib import Path
from typing import Any


def rest_api_leads(config: dict[str, Any]) -> Any:
    from dlt.sources.rest_api import rest_api_source

    client = {"base_url": config["base_url"].rstrip("/") + "/"}
    client["auth"] = {"type": "bearer", "token": config["api_key"]}
    resources = []
    for bot in config["bot_ids"]:
        path = f"get-conversation-ids/{bot}"
        endpoint = {"method": "POST", "path": path, "paginator": "single_page"}
        resources.append({"name": f"leads_{bot}", "table_name": "leads", "endpoint": endpoint})
    return rest_api_source({"client": client, "resources": resources})


def source_chatnode_leads(config: dict[str, Any]) -> Any:
    from source_chatnode.dlt import chatnode

    settings = {key: config[key] for key in ("api_key", "bot_ids", "base_url")}
    return chatnode(**settings).with_resources("leads")


def main(source: str, config_path: str, work_dir: str) -> None:
    config, work = json.loads(Path(config_path).read_text()), Path(work_dir)
    # No telemetry (the bench has no internet) and no state outside the work folder.
    os.environ.update(RUNTIME__DLT_TELEMETRY="false", DLT_DATA_DIR=str(work / "dlt-data"))
    import dlt

    leads = {"rest_api": rest_api_leads, "source_chatnode": source_chatnode_leads}[source]
    pipeline = dlt.pipeline(
        f"bench_{source}",
        destination=dlt.destinations.duckdb(str(work / "leads.duckdb")),
        dataset_name="chatnode",
        pipelines_dir=str(work / "pipelines"),
    )
    pipeline.run(leads(config), loader_file_format="jsonl")
    with pipeline.sql_client() as sql:
        print(json.dumps({"rows": sql.execute_sql("SELECT count(*) FROM leads")[0][0]}))


if __name__ == "__main__":
    main(*sys.argv[1:])
