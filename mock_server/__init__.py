"""A spec-driven mock of the ChatNode API, for testing the `source-chatnode` connector and any other
ChatNode client. Routes, auth and validation come from the bundled OpenAPI document in `spec/`."""
