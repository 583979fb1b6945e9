"""Tape-image formats: SIMH ``.tap`` (AWS, HET and ISO come next), and the object index."""
