"""`chatnode-contract`: check a live ChatNode account's API against the bundled OpenAPI spec.

`calls.py` says what is called, `checker.py` calls it, `judge.py` judges each response,
`report.py` renders what was found, `cli.py` is the command line. It reads the API's shape from
`chatnode_spec` only and knows nothing of the mock server.
"""

from chatnode_contract.checker import CheckConfig, run_check
from chatnode_contract.cli import main
from chatnode_contract.report import Report

__all__ = ["CheckConfig", "Report", "main", "run_check"]
