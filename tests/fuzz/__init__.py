"""Fuzzed readers: every reader of a tape image over corrupted images (hypothesis)."""
