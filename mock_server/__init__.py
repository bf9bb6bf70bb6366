"""A spec-driven mock of the ChatNode API, for testing the `source-chatnode` connector and any other
ChatNode client: leads and chat history. Routes, auth and validation come from the bundled OpenAPI
documents in `spec/`, read through `chatnode_spec`."""
