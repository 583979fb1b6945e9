"""Transports: move bytes between a client and a session (stdio today)."""
