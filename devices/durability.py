"""When written data is made durable: the ``sync`` setting, and write-behind.

``sync`` says which acknowledgement means "on disk" (every level also syncs at close):

* ``close`` (the default): closing the device syncs the image (and its index and state); a
  record's ``A`` means the record is in the image file, which survives a crash of rmtd, not of
  the host.
* ``filemark``: every filemark is synced before its reply, so a closed tape file survives a
  power cut (``tar`` and ``dump`` end each archive with filemarks).
* ``record``: every record is synced before its ``A`` (slow: one ``fdatasync`` per record).

The sync at close stays cheap on a big image because writeback is started behind the writes
as they go (:mod:`devices.streamwrites`).
"""

from __future__ import annotations

import enum


class SyncLevel(enum.Enum):
    """Which replies wait for the data to be on disk (see the module's docstring)."""

    CLOSE = "close"
    FILEMARK = "filemark"
    RECORD = "record"
