"""Status replies: ``struct mtget`` for ``S`` and the single fields of ``s``.

``S`` sends the raw structure in the Linux x86-64 layout, which is what every Linux RMT server
sends and what clients built for Linux decode (``struct mtget`` in ``linux/mtio.h``): five
``long`` fields, then ``mt_fileno`` and ``mt_blkno`` as ``int``, 48 bytes, little-endian.
"""

from __future__ import annotations

import errno

from construct import Int32sl, Int64sl, Struct

from devices.interface import DriveStatus
from rmtd.protocol.v1 import STATUS_FIELDS

MTGET = Struct(
    "mt_type" / Int64sl,
    "mt_resid" / Int64sl,
    "mt_dsreg" / Int64sl,
    "mt_gstat" / Int64sl,
    "mt_erreg" / Int64sl,
    "mt_fileno" / Int32sl,
    "mt_blkno" / Int32sl,
)
"""``struct mtget`` on Linux x86-64 (``/usr/include/linux/mtio.h``)."""

MTGET_SIZE = MTGET.sizeof()


def mtget_fields(status: DriveStatus) -> dict[str, int]:
    """The values of ``struct mtget`` for ``status`` (``mt_resid`` is the partition, as st)."""
    return {
        "mt_type": status.mt_type,
        "mt_resid": status.partition,
        "mt_dsreg": status.dsreg,
        "mt_gstat": int(status.gstat),
        "mt_erreg": status.erreg,
        "mt_fileno": status.fileno,
        "mt_blkno": status.blkno,
    }


def pack_mtget(status: DriveStatus) -> bytes:
    """Return the 48 bytes of ``struct mtget`` for ``status``."""
    return MTGET.build(mtget_fields(status))


# Linux has no mt_flags or mt_bf: dump's server answers mt_gstat for the one and 0 for the other.
_LINUX_STAND_INS = {"mt_flags": "mt_gstat"}


def status_field(status: DriveStatus, letter: str) -> int:
    """The value the ``s`` sub-command ``letter`` asks for, as dump's server answers it.

    Raises:
        OSError: EINVAL for a letter that names no field.
    """
    name = STATUS_FIELDS.get(letter)
    if name is None:
        raise OSError(errno.EINVAL, f"unknown status field {letter!r}")
    if name == "mt_bf":
        return 0  # the optimum blocking factor
    return mtget_fields(status)[_LINUX_STAND_INS.get(name, name)]
