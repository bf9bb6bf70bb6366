"""Benchmark harness for the ChatNode connector and its mock server.

`python -m bench` measures our connector against its peers (a minimal Connector Builder manifest,
a raw requests + orjson floor, dlt's rest_api source) and our mock server against Prism, and
writes `results.md` and `results.json`. Everything runs on 127.0.0.1 and every process it starts
is stopped when it ends, however it ends.
"""
