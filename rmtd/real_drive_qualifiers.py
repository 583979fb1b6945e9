"""The qualifiers of a real tape drive (``/dev/nst0``), and the check of a configured one.

On a drive the qualifiers start from "do nothing" (:data:`REAL_DRIVE_BASE`) and act through
the drive's own operations (:meth:`rmtd.opener.DeviceOpener._open_real`).
"""

from __future__ import annotations

import dataclasses
import errno
import os

from devices.errors import tape_error
from devices.kinds import DeviceKind, kind_by_name
from rmtd.devspec import Qualifiers, parse_device_spec, parse_qualifiers

REAL_DRIVE_BASE = Qualifiers(mount=False, rewind=False, stream=False, unload=False)
"""What a tape drive does with no qualifier: nothing beyond what the kernel does.

The OpenVMS defaults (/MOUNT/REWIND/UNLOAD/STREAM) suit images; on a drive they would eject
the tape after every ``tar``. A user of ``/dev/nst0`` expects what GNU rmt gives: the device's
own behaviour (``/dev/st0`` rewinds at close, ``/dev/nst0`` stays put). The server's
``defaults`` are for volumes and do not apply to a drive either.
"""


def drive_qualifiers(name: str, configured: str, max_record: int, protect: bool) -> Qualifiers:
    """The qualifiers of a tape drive open: the drive's configured ones, then the client's.

    Args:
        name: the device spec as the client sent it.
        configured: the named drive's ``qualifiers`` text ("" for a drive named by path).
        max_record: the largest /BLOCKSIZE.
        protect: a read-only grant: write-protected, as /NOWRITE.
    """
    base = parse_qualifiers(configured, REAL_DRIVE_BASE)
    q = parse_device_spec(name, base, max_record).qualifiers
    return dataclasses.replace(q, write=False) if protect else q


def check_drive_device(label: str, device: str) -> None:
    """Refuse a configured ``device`` that does not lead to a tape drive (``/dev/nst0``...).

    A symlink such as ``/dev/tape/by-id/...-nst`` is followed: what it leads to decides.

    Raises:
        OSError: EMEDIUMTYPE, naming the device.
    """
    if kind_by_name(os.path.realpath(device)) is not DeviceKind.REAL_DRIVE:
        raise tape_error(
            errno.EMEDIUMTYPE, f"{label} {device} is not a tape drive (/dev/nst*, /dev/st*)"
        )
