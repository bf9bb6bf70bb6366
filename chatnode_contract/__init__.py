"""`chatnode-contract`: check a live ChatNode account's API against the bundled OpenAPI spec.

It calls the spec's operations for each given bot with the real key (`calls.py` lists them), plus
a few probes that should draw the spec's documented error responses, and lets openapi-core judge
every response (`judge.py`). `drift.py` explains each body per field, with counts and an
example, and classifies the drift as additive (a client written against the spec keeps working)
or breaking; `report.py` renders the outcome as a table or as JSON, and holds the exit-code rule.
`checker.py` runs it all over httpx; `cli.py` is the command line. It reads the API's shape from
`chatnode_spec` only and knows nothing of the mock server.
"""

from chatnode_contract.checker import run_check
from chatnode_contract.cli import main
from chatnode_contract.config import CheckConfig
from chatnode_contract.report import Report

__all__ = ["CheckConfig", "Report", "main", "run_check"]
