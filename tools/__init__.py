"""Developer tools that generate or check committed files; nothing here ships to Airbyte users."""
