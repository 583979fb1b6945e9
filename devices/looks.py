"""What a file looks like: a SIMH tape image, or something people mistake for one.

A tar archive is not a tape whose first record is damaged: it must never be cut, repaired or
replaced as one. :func:`not_simh_reason` checks the first control word as a SIMH reader would
meet it; :func:`looks_like` names common formats by their magic numbers for the message.
"""

from __future__ import annotations

import os
import struct

from devices.formats.simh import (
    CLASS_MARKERS,
    CLASS_PRIVATE_MARKER,
    END_OF_MEDIUM,
    ERASE_GAP,
    TAPE_MARK,
    decode_word,
    record_size,
)

_WORD = struct.Struct("<I")

_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (257, b"ustar", "a tar archive"),
    (0, b"070701", "a cpio archive (newc)"),
    (0, b"070702", "a cpio archive (crc)"),
    (0, b"070707", "a cpio archive (odc)"),
    (0, b"\xc7\x71", "a cpio archive (binary)"),
    (0, b"\x71\xc7", "a cpio archive (binary)"),
    (32769, b"CD001", "an ISO 9660 image"),
    (0, b"\x1f\x8b", "gzip data"),
    (0, b"BZh", "bzip2 data"),
    (0, b"\xfd7zXZ\x00", "xz data"),
    (0, b"\x28\xb5\x2f\xfd", "zstd data"),
    (0, b"\x7fELF", "an ELF executable"),
    (0, b"XFSB", "an XFS file system"),
)
"""Magic numbers (offset, bytes, what) of what people mistake for tape images."""


def looks_like(fd: int) -> str:
    """Say what the file open at ``fd`` looks like, for a message ("a tar archive", "text")."""
    for offset, magic, what in _SIGNATURES:
        if os.pread(fd, len(magic), offset) == magic:
            return what
    head = os.pread(fd, 512, 0)
    if head and all(b in b"\t\n\r" or 32 <= b < 127 for b in head):
        return "text"
    return "unknown data"


def not_simh_reason(fd: int) -> str | None:
    """Why the file open at ``fd`` is not a SIMH image, or ``None`` if it may be one.

    A SIMH image starts with a plausible control word (open-simh ``sim_tape.c``, "SIMH
    Magtape Representation"): a tape mark, an erase gap, the end-of-medium marker, or a record
    whose trailing length word matches its leading one. An empty file is a blank tape; a file
    shorter than one word is a torn first write.
    """
    size = os.fstat(fd).st_size
    if size < 4:
        return None
    word = _WORD.unpack(os.pread(fd, 4, 0))[0]
    if word in (TAPE_MARK, END_OF_MEDIUM, ERASE_GAP):
        return None
    parts = decode_word(word)
    if parts.cls not in (CLASS_PRIVATE_MARKER, CLASS_MARKERS):
        end = record_size(parts.value)
        if end <= size and os.pread(fd, 4, end - 4) == _WORD.pack(word):
            return None
    return f"not a SIMH tape image: it looks like {looks_like(fd)}"
