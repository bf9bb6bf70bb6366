"""Peer readers run as scripts by path, so none of them imports the bench or the connector."""
