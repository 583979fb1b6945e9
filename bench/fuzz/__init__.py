"""The atheris harness of the tape-image readers (see README.md here)."""
