"""dlt through this connector: `source_chatnode.dlt.chatnode` runs the declarative source in
process and dlt loads its `leads` into DuckDB (merge on the composite key, a first run with no
state). Prints `{"rows": N}`, the rows the `leads` table holds after the load, as the `rest_api`
peer does, so the two dlt rows compare like for like: both load through jsonl files.

    python bench/peers/dlt_source_chatnode.py CONFIG.json WORK_DIR
"""

import json
import os
import sys
from pathlib import Path


def main(config_path: str, work_dir: str) -> None:
    config, work = json.loads(Path(config_path).read_text()), Path(work_dir)
    # No telemetry (the bench has no internet) and no state outside the work folder.
    os.environ.update(RUNTIME__DLT_TELEMETRY="false", DLT_DATA_DIR=str(work / "dlt-data"))
    import dlt

    from source_chatnode.dlt import chatnode

    source = chatnode(
        api_key=config["api_key"], bot_ids=config["bot_ids"], base_url=config["base_url"]
    )
    pipeline = dlt.pipeline(
        "bench_chatnode_source",
        destination=dlt.destinations.duckdb(str(work / "leads.duckdb")),
        dataset_name="chatnode",
        pipelines_dir=str(work / "pipelines"),
    )
    pipeline.run(source.with_resources("leads"), loader_file_format="jsonl")
    with pipeline.sql_client() as sql:
        print(json.dumps({"rows": sql.execute_sql("SELECT count(*) FROM leads")[0][0]}))


if __name__ == "__main__":
    main(*sys.argv[1:])
