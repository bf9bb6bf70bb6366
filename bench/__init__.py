"""Benchmark harness: the ChatNode connector against its peers, the mock server against Prism.

`python -m bench` (see `bench.cli`) writes `results.md` and `results.json`. Everything runs on
127.0.0.1, and every process it starts is stopped when it ends, however it ends.
"""
