"""`python -m bench`: see `bench.cli` for the flags."""

from bench.cli import main

raise SystemExit(main())
