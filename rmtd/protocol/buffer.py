"""`ReceiveBuffer`: received bytes not yet consumed, without needless copies.

One ``bytearray`` holds the bytes at ``[start, end)``; consuming moves ``start``, so
nothing is shifted per request. The array is never resized in place (it is replaced
when it must grow), so a view lent to ``readinto`` can never block a resize.
"""

from __future__ import annotations

import re
from typing import TypeAlias

__all__ = ["Buffer", "ReceiveBuffer"]

#: A bytes-like object.
Buffer: TypeAlias = bytes | bytearray | memoryview


class ReceiveBuffer:
    """A FIFO of bytes with an offset, a lending API and zero-copy-minded accessors.

    Args:
        chunk_size: Default (and initial) free space, in bytes.
    """

    def __init__(self, chunk_size: int) -> None:
        self._chunk = chunk_size
        self._buf = bytearray(chunk_size)
        self._start = 0
        self._end = 0
        self._lent = False

    def __len__(self) -> int:
        return self._end - self._start

    @property
    def lent(self) -> bool:
        """True between `lend` and `commit`."""
        return self._lent

    def append(self, data: Buffer) -> None:
        """Copy `data` (a C-contiguous buffer) to the end."""
        with memoryview(data) as view, view.cast("B") as raw:
            self._reserve(raw.nbytes)
            self._buf[self._end : self._end + raw.nbytes] = raw
            self._end += raw.nbytes

    def lend(self, size: int) -> memoryview:
        """Return a writable view of at least `size` free bytes after the data."""
        self._reserve(size)
        self._lent = True
        return memoryview(self._buf)[self._end :]

    def commit(self, nbytes: int) -> None:
        """Account for `nbytes` written into the view from `lend`.

        Raises:
            ValueError: If `nbytes` is negative or beyond the lent view.
        """
        if not 0 <= nbytes <= len(self._buf) - self._end:
            raise ValueError(f"{nbytes} bytes do not fit the lent buffer")
        self._lent = False
        self._end += nbytes

    def find(self, byte: bytes, skip: int = 0) -> int:
        """Return the position of `byte` relative to the data start, from `skip`, or -1."""
        pos = self._buf.find(byte, self._start + skip, self._end)
        return pos - self._start if pos >= 0 else -1

    def first(self) -> int:
        """Return the first byte (the buffer must not be empty)."""
        return self._buf[self._start]

    def take(self, size: int) -> bytes:
        """Remove and return the first `size` bytes (a small copy: argument lines)."""
        data = bytes(self._buf[self._start : self._start + size])
        self._start += size
        return data

    def take_into(self, dst: bytearray | memoryview) -> int:
        """Move up to ``len(dst)`` bytes into `dst` (one copy); return the count."""
        with memoryview(dst) as out, memoryview(self._buf) as src:
            size = min(out.nbytes, self._end - self._start)
            out[:size] = src[self._start : self._start + size]
        self._start += size
        return size

    def drop(self, size: int) -> int:
        """Discard up to `size` bytes from the front; return how many were discarded."""
        size = min(size, self._end - self._start)
        self._start += size
        return size

    def match(self, pattern: re.Pattern[bytes]) -> re.Match[bytes] | None:
        """Match `pattern` at the front of the data (anchored); positions are absolute.

        Consume what it matched with ``drop(match.end() - match.start())``.
        """
        return pattern.match(self._buf, self._start, self._end)

    def drop_run(self, run: re.Pattern[bytes]) -> int:
        """Discard the bytes at the front that `run` matches (anchored); return how many.

        One regex scan in C: skipping a long run byte by byte would cost a Python-level
        step per byte.
        """
        match = run.match(self._buf, self._start, self._end)
        size = match.end() - self._start if match else 0
        self._start += size
        return size

    def clear(self) -> None:
        """Forget everything and release the memory."""
        self._buf = bytearray()
        self._start = self._end = 0
        self._lent = False

    def _reserve(self, size: int) -> None:
        """Make room for `size` bytes after the data, never resizing in place."""
        live = self._end - self._start
        if not live:
            self._start = self._end = 0
            if len(self._buf) > 4 * max(self._chunk, size):
                self._buf = bytearray(max(self._chunk, size))  # shrink after a burst
        if len(self._buf) - self._end >= size:
            return
        if len(self._buf) - live >= size and live <= self._start:
            # Compact only once at least as many bytes were consumed as are live, so
            # each byte moves O(1) times on average.
            self._buf[:live] = self._buf[self._start : self._end]
        else:
            grown = bytearray(max(2 * len(self._buf), live + size))
            grown[:live] = self._buf[self._start : self._end]
            self._buf = grown
        self._start, self._end = 0, live
