"""Tape volumes in an S3-compatible object store, shared by several hosts (see volume.py)."""
