"""The HET tape image format (``.het``), after Hercules' ``hetlib.c`` and ``hetlib.h``.

HET is AWS's chunked layout (:mod:`devices.formats.chunks`) with each block compressed as a
whole before it is cut into chunks, the method in flags1 & 0x03 of every chunk (1 zlib, 2
bzip2), or flags2 0x80 for Bus-Tech's zlib (read only). A block that compression does not
shrink is stored raw, as ``het_write`` does. zlib blocks are zlib streams (``compress2``), bzip2
blocks bzip2 streams (``BZ2_bzBuffToBuffCompress``, block size 100k x level).

The data length of a compressed record is known only by decompressing it, so a scan does; the
index saved beside the image spares the next open that work.
"""

from __future__ import annotations

import bz2
import zlib

from devices.formats.chunks import (
    BUSTECH_ZLIB,
    BZIP2,
    MAX_BLOCK,
    METHOD_NAMES,
    ZLIB,
    Block,
    BlockError,
    ChunkFormat,
    gather,
)
from devices.formats.index import ObjectIndex
from devices.storage import Storage

DEFAULT_LEVEL = 4
"""Hercules' default compression level (``HETDFLT_LEVEL``)."""
_METHODS = {"zlib": ZLIB, "bzip2": BZIP2}


def decompress(method: int, data: bytes | bytearray, offset: int) -> bytes:
    """Decompress a block's stored bytes; :class:`BlockError` naming ``offset`` if they are bad.

    At most 2 MiB come out: a block claiming more is damage, not a reason to use memory.
    """
    name = METHOD_NAMES.get(method, f"method {method}")
    try:
        if method in (ZLIB, BUSTECH_ZLIB):
            z = zlib.decompressobj()
            out = z.decompress(data, MAX_BLOCK + 1)
            whole = z.eof and not z.unconsumed_tail and not z.unused_data
        elif method == BZIP2:
            b = bz2.BZ2Decompressor()
            out = b.decompress(data, MAX_BLOCK + 1)
            whole = b.eof and not b.unused_data
        else:
            raise BlockError(f"record at offset {offset}: unknown compression {method}")
    except (zlib.error, OSError, EOFError, ValueError) as exc:
        raise BlockError(f"record at offset {offset}: bad {name} data ({exc})") from None
    if len(out) > MAX_BLOCK:
        raise BlockError(f"record at offset {offset} is longer than {MAX_BLOCK} bytes")
    if not whole:
        raise BlockError(f"record at offset {offset}: bad {name} data (cut short or trailing)")
    if not out:
        raise BlockError(f"record at offset {offset} holds no data")
    return out


class HetFormat(ChunkFormat):
    """The HET layout, writing blocks compressed with ``method`` at ``level``.

    Args:
        method: ``"zlib"`` (Hercules' default) or ``"bzip2"``.
        level: 1 (fast) to 9 (best); Hercules' default is 4.
    """

    name = "het"

    def __init__(self, method: str = "zlib", level: int = DEFAULT_LEVEL) -> None:
        super().__init__()
        if method not in _METHODS:
            raise ValueError(f"unknown HET compression {method!r} (zlib or bzip2)")
        if not 1 <= level <= 9:
            raise ValueError(f"HET compression level {level} is outside 1..9")
        self.method = method
        self.level = level

    def data_length(self, storage: Storage, block: Block) -> int:
        """A compressed record's length is its decompressed data's."""
        if not block.method:
            return block.stored
        return len(decompress(block.method, gather(storage, block), block.offset))

    def read_data(self, storage: Storage, block: Block, buffer: memoryview) -> int:
        """Read a record, decompressing it if it is compressed."""
        if not block.method:
            return super().read_data(storage, block, buffer)
        out = decompress(block.method, gather(storage, block), block.offset)
        if len(out) > len(buffer):
            raise BlockError(f"record at offset {block.offset} grew to {len(out)} bytes")
        buffer[: len(out)] = out
        return len(out)

    def encode(self, data: memoryview) -> tuple[memoryview, int]:
        """Compress the block; keep it raw when that does not make it smaller."""
        if self.method == "bzip2":
            packed = bz2.compress(data, self.level)
        else:
            packed = zlib.compress(data, self.level)
        if len(packed) < len(data):
            return memoryview(packed), _METHODS[self.method]
        return data, 0

    def data_offset(self, index: ObjectIndex, i: int) -> int | None:
        """Whether a record is compressed is not in the index: it is always read and copied."""
        return None
