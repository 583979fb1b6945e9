"""Virtual tape devices with Linux ``st`` semantics over tape-image files.

This package knows nothing of the RMT protocol: it raises :class:`OSError` with an errno
and returns plain values, so that any front end (the RMT server, ``vmt``, tests) can drive it.
"""
