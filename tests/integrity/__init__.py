"""Tests of the data-safety guarantees: users' reports as scenarios, and corruption properties."""
