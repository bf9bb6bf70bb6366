"""`make demo`: the connector, the mock server and PyAirbyte together, against nothing but 127.0.0.1."""
