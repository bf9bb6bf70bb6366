"""Readers run as scripts by path, each its own process, so the bench measures only them."""
