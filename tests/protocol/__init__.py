"""Tests of the sans-I/O protocol core (rmtd.protocol)."""
