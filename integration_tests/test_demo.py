"""`make demo` end to end: mock server CLI, connector CLI, and PyAirbyte into DuckDB."""

import subprocess
import sys


def test_demo_walks_the_whole_life_cycle_and_loads_duckdb() -> None:
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "demo",
            "--leads",
            "30",
            "--append",
            "4",
            "--seed",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    out = process.stdout
    assert process.returncode == 0, process.stderr[-3000:]
    assert "check                            SUCCEEDED" in out
    assert "read, full refresh               60 leads" in out
    assert "read, incremental (no state)     60 leads" in out
    assert "8 new +" in out
    duckdb_rows = [
        line.split() for line in out.splitlines() if line.startswith(("bot-sales ", "bot-support "))
    ]
    assert [(row[0], row[1], row[2]) for row in duckdb_rows] == [
        ("bot-sales", "34", "34"),
        ("bot-support", "34", "34"),
    ]
    assert "mock server stopped." in out
