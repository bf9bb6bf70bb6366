"""`chatnode-contract`: check a live ChatNode account's API against the bundled OpenAPI spec.

It calls the spec's operations for each given bot with the real key, plus a few probes that
should draw the spec's documented error responses (`calls.py`); openapi-core judges every
response and `judge.py` classifies its errors by schema keyword, then walks the body for the
additive drift openapi-core allows (unknown fields, timestamp forms, order). `report.py` holds
the finding kinds, the exit-code rule and the JSON and text renderings; `checker.py` runs it all
over httpx; `cli.py` is the command line, its help drawn from the tables by `reference.py`. It
reads the API's shape from `chatnode_spec` only and knows nothing of the mock server.
"""

from chatnode_contract.checker import CheckConfig, run_check
from chatnode_contract.cli import main
from chatnode_contract.report import Report

__all__ = ["CheckConfig", "Report", "main", "run_check"]
