"""`python -m chatnode_contract`: the same program as the `chatnode-contract` console script."""

import sys

from chatnode_contract.cli import main

if __name__ == "__main__":
    sys.exit(main())
