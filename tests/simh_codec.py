"""The tests' one SIMH codec, written independently of ``devices.formats.simh``.

Tests compare the drive's images with this second opinion rather than with the code under
test. The layout is the one of Supnik's "SIMH Magtape Representation and Handling": each object
starts with a little-endian 32-bit control word whose top four bits are a class (0 good data,
8 bad data, F markers) and whose low 28 bits are a length; a record is the word, its data, one
zero pad byte after odd-length data, and the same word again; a tape mark is a word of 0.

:func:`encode` and :func:`decode` work on logical tapes (records and filemarks). The low-level
builders (:func:`word`, :func:`record`, :data:`TAPE_MARK`, :data:`GAP`...) make the malformed
and unusual images that tests of damage need: other classes, wrong trailers, missing pads.

Import it as ``from tests.simh_codec import encode``: ``tests`` is a package, so pytest (with
``--import-mode=importlib`` and the repository on ``pythonpath``) and mypy agree on the name.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

Obj = bytes | None
"""A logical tape object: a record's data, or ``None`` for a filemark."""

MAX_LENGTH = 0x00FFFFFF
"""Largest record a standard image holds (16 MiB - 1)."""

CLASS_GOOD = 0x0
CLASS_BAD = 0x8
"""Record classes (the top four bits of a control word)."""

TAPE_MARK = struct.pack("<I", 0)
"""A filemark."""

GAP = struct.pack("<I", 0xFFFFFFFE)
"""An erase gap marker (skipped by readers)."""

HALF_GAP = struct.pack("<I", 0xFFFEFFFF)
"""A half gap marker (skipped by readers)."""

END_OF_MEDIUM = struct.pack("<I", 0xFFFFFFFF)
"""The end-of-medium marker: nothing after it is data."""


def word(length: int, cls: int = CLASS_GOOD) -> bytes:
    """A control word: ``cls`` in the top four bits, ``length`` in the rest."""
    return struct.pack("<I", (cls << 28) | length)


def record(
    data: bytes, cls: int = CLASS_GOOD, trailer: int | None = None, pad: bool = True
) -> bytes:
    """One record of class ``cls``.

    Args:
        data: the record's data.
        cls: its class (8 for bad data).
        trailer: the trailing word's length if it must differ from the leading one
            (damage); the class is kept.
        pad: add the zero byte after odd-length data (``False`` makes an image some
            writers produce, and that readers must reject).
    """
    lead = word(len(data), cls)
    tail = lead if trailer is None else word(trailer, cls)
    return lead + data + (b"\0" if pad and len(data) % 2 else b"") + tail


def encode(objects: Sequence[Obj]) -> bytes:
    """A standard image of ``objects``: padded class-0 records, tape marks, no EOM marker."""
    return b"".join(TAPE_MARK if obj is None else record(obj) for obj in objects)


def simh(*objects: Obj) -> bytes:
    """:func:`encode` of the arguments: ``simh(b"a", None)``."""
    return encode(objects)


def record_size(length: int) -> int:
    """Bytes a record of ``length`` takes in an image: words, data and pad."""
    return 8 + length + length % 2


def decode(image: bytes) -> list[Obj]:
    """Decode a standard image as the drive writes it (class 0 records and tape marks only).

    Raises:
        AssertionError: when the image holds anything else or is malformed.
    """
    objects: list[Obj] = []
    pos = 0
    while pos < len(image):
        assert pos + 4 <= len(image), f"partial word at {pos}"
        (n,) = struct.unpack_from("<I", image, pos)
        if n == 0:
            objects.append(None)
            pos += 4
            continue
        assert n <= MAX_LENGTH, f"not a good record at {pos}: {n:#x}"
        end = pos + record_size(n)
        assert end <= len(image), f"record at {pos} runs past the end"
        assert struct.unpack_from("<I", image, end - 4)[0] == n, f"trailer differs at {pos}"
        if n & 1:
            assert image[pos + 4 + n] == 0, f"pad byte not zero at {pos}"
        objects.append(bytes(image[pos + 4 : pos + 4 + n]))
        pos = end
    return objects
