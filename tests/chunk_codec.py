"""The tests' AWS/HET codec, written independently of ``devices.formats.chunks``.

The layout is Hercules' (``tapedev.h``, ``hetlib.h``): each chunk is a 6-byte header (its data
length u16 LE, the previous chunk's length u16 LE, flags1, flags2) and its data. flags1 0x80
begins a record, 0x20 ends it, 0x40 is a tapemark; flags1 & 0x03 is the compression of the
whole block in HET (1 zlib, 2 bzip2), set on every chunk of it.

:func:`encode` and :func:`decode` work on logical tapes (records and filemarks); :func:`header`
builds the malformed images that tests of damage need.
"""

from __future__ import annotations

import bz2
import struct
import zlib
from collections.abc import Sequence

Obj = bytes | None
"""A logical tape object: a record's data, or ``None`` for a filemark."""

BOR, MARK, EOR = 0x80, 0x40, 0x20
ZLIB, BZIP2 = 1, 2


def header(length: int, previous: int, flags1: int, flags2: int = 0) -> bytes:
    """One chunk header."""
    return struct.pack("<HHBB", length, previous, flags1, flags2)


def chunked(data: bytes, previous: int, chunk: int = 65535, bits: int = 0) -> tuple[bytes, int]:
    """``data`` as chunks of ``chunk`` bytes after a chunk of ``previous``; and the last length."""
    out = b""
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for n, piece in enumerate(pieces):
        flags = bits | (BOR if n == 0 else 0) | (EOR if n == len(pieces) - 1 else 0)
        out += header(len(piece), previous, flags) + piece
        previous = len(piece)
    return out, previous


def compress(data: bytes, method: int, level: int) -> bytes:
    """A HET block's compressed bytes."""
    return zlib.compress(data, level) if method == ZLIB else bz2.compress(data, level)


def encode(objects: Sequence[Obj], chunk: int = 65535, method: int = 0, level: int = 4) -> bytes:
    """An image of ``objects``; ``method`` compresses each block that it shrinks (HET)."""
    out, previous = b"", 0
    for obj in objects:
        if obj is None:
            out += header(0, previous, MARK)
            previous = 0
            continue
        stored, bits = obj, 0
        if method:
            packed = compress(obj, method, level)
            if len(packed) < len(obj):
                stored, bits = packed, method
        framed, previous = chunked(stored, previous, chunk, bits)
        out += framed
    return out


def decode(image: bytes) -> list[Obj]:
    """The objects of a well-formed image (assertions fail on anything else)."""
    objects: list[Obj] = []
    pos, previous, block, bits = 0, 0, b"", -1
    while pos < len(image):
        length, prev, flags1, flags2 = struct.unpack_from("<HHBB", image, pos)
        assert prev == previous, f"previous length at {pos}"
        assert flags2 == 0
        data = image[pos + 6 : pos + 6 + length]
        assert len(data) == length
        pos += 6 + length
        previous = length
        if flags1 == MARK:
            assert bits == -1
            objects.append(None)
            continue
        if flags1 & BOR:
            assert bits == -1
            bits = flags1 & 3
        assert flags1 & 3 == bits
        block += data
        if flags1 & EOR:
            if bits == ZLIB:
                block = zlib.decompress(block)
            elif bits == BZIP2:
                block = bz2.decompress(block)
            objects.append(block)
            block, bits = b"", -1
    assert bits == -1, "a record without its end"
    return objects
