"""The magnetic tape ioctls of Linux ``st``: their numbers and their structures, computed here.

``include/uapi/linux/mtio.h`` defines three requests, each from the ``_IOC`` macro of
``include/uapi/asm-generic/ioctl.h`` (bits 0-7 the number, 8-15 the type letter, 16-29 the
argument's size, 30-31 the direction)::

    MTIOCTOP = _IOW('m', 1, struct mtop)    struct mtop  { short mt_op; int mt_count; }
    MTIOCGET = _IOR('m', 2, struct mtget)   struct mtget { long mt_type, mt_resid, mt_dsreg,
                                                             mt_gstat, mt_erreg;
                                                           int mt_fileno, mt_blkno; }
    MTIOCPOS = _IOR('m', 3, struct mtpos)   struct mtpos { long mt_blkno; }

The structures are packed with the host's native sizes and alignment (``@``), as the C compiler
lays them out, and the request numbers are computed from those sizes, so both follow the host.
The ``_IOC`` layout is the generic one (x86, arm, arm64, riscv, s390); alpha, mips, powerpc and
sparc lay the bits out differently and are not supported. ``tests/drives`` checks every value
against what ``gcc`` makes of the kernel headers.
"""

from __future__ import annotations

import struct

_IOC_NRBITS = 8
_IOC_TYPEBITS = 8
_IOC_SIZEBITS = 14
_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS
_IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS
_IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS
IOC_WRITE = 1
"""``_IOC_WRITE``: the caller passes the argument to the kernel."""
IOC_READ = 2
"""``_IOC_READ``: the kernel fills the argument in."""


def ioc(direction: int, kind: str, number: int, size: int) -> int:
    """``_IOC(dir, type, nr, size)``: an ioctl request number in the generic layout.

    Raises:
        ValueError: for a field that does not fit its bits.
    """
    letter = ord(kind)
    if not (
        0 <= direction < 4
        and 0 <= letter < 1 << _IOC_TYPEBITS
        and 0 <= number < 1 << _IOC_NRBITS
        and 0 <= size < 1 << _IOC_SIZEBITS
    ):
        raise ValueError(f"_IOC({direction}, {kind!r}, {number}, {size}): a field is too large")
    return (
        direction << _IOC_DIRSHIFT
        | letter << _IOC_TYPESHIFT
        | number << _IOC_NRSHIFT
        | size << _IOC_SIZESHIFT
    )


MTOP = struct.Struct("@hi")
"""``struct mtop``: ``short mt_op``, then ``int mt_count`` after two bytes of padding."""

MTGET = struct.Struct("@lllllii")
"""``struct mtget``: five ``long`` (type, resid, dsreg, gstat, erreg), ``int`` fileno, blkno."""

MTPOS = struct.Struct("@l")
"""``struct mtpos``: ``long mt_blkno``."""

MTIOCTOP = ioc(IOC_WRITE, "m", 1, MTOP.size)
"""Perform a tape operation (``struct mtop``)."""

MTIOCGET = ioc(IOC_READ, "m", 2, MTGET.size)
"""Get the drive status (``struct mtget``)."""

MTIOCPOS = ioc(IOC_READ, "m", 3, MTPOS.size)
"""Get the logical block position (``struct mtpos``)."""

SHORT_RANGE = range(-(1 << 15), 1 << 15)
"""What ``mt_op`` (a ``short``) can hold."""

INT_RANGE = range(-(1 << 31), 1 << 31)
"""What ``mt_count`` (an ``int``) can hold."""
