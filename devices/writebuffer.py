"""The two-step write for devices that have no record buffer of their own to lend.

A ``W`` payload is read straight into the buffer a device lends with ``write_buffer`` and then
written with ``commit_write`` (see :class:`devices.interface.TapeDevice`). A tape drive lends
its image's record buffer, so the data is never copied; every other device inherits
:class:`StagedWrites`, which lends one scratch buffer, reused from write to write, and hands
its contents to the device's ordinary ``write``.
"""

from __future__ import annotations

from devices.interface import BytesLike


class StagedWrites:
    """``write_buffer``/``commit_write`` over the class's own ``write``, through a scratch buffer.

    A subclass that can refuse writes outright (a read-only device) overrides
    :meth:`check_write`, so that a refused write allocates nothing.
    """

    _staged: bytearray | None = None

    def write(self, data: BytesLike) -> int:
        """Write ``data``: every subclass provides it."""
        raise NotImplementedError

    def check_write(self, count: int) -> None:
        """Raise ``OSError`` if a write of ``count`` bytes would surely be refused.

        The default accepts every write; :meth:`write` still has the last word.
        """

    def write_buffer(self, count: int) -> memoryview:
        """Lend a buffer of ``count`` bytes for the next write, after :meth:`check_write`.

        Raises:
            OSError: as :meth:`check_write` does, before anything is allocated.
        """
        self.check_write(count)
        if self._staged is None or len(self._staged) < count:
            self._staged = bytearray(count)
        return memoryview(self._staged)[:count]

    def commit_write(self, count: int) -> int:
        """Write the first ``count`` bytes put in :meth:`write_buffer`; returns what ``write`` does.

        Raises:
            ValueError: if no buffer of ``count`` bytes was lent.
        """
        staged = self._staged if self._staged is not None else bytearray()
        if count > len(staged):
            raise ValueError(f"commit_write({count}) without a write_buffer of that size")
        return self.write(memoryview(staged)[:count])
