"""`python -m mock_server`: the same as `chatnode-mock-server`."""

import sys

from mock_server.cli import main

sys.exit(main())
