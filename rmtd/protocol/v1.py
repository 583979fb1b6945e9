r"""RMT protocol version 1 (Sun/Schily, dump): wire numbers mapped to Linux values.

A client switches a connection to V1 with ``I-1\n0\n`` (answer ``A1``); from then on
``I`` ops use the portable numbering below (dump's rmt/rmt.c, Schily's rmt.c). ``i`` and ``s`` work
regardless of the version. This module is only data; the session applies it.
"""

from __future__ import annotations

__all__ = [
    "PROTOCOL_VERSION",
    "STATUS_FIELDS",
    "V1_EXTENDED_OPS",
    "V1_IOCTL_OPS",
]

#: The value answered to the ``I-1`` probe.
PROTOCOL_VERSION = 1

#: V1 ``I`` op → Linux MTIOCTOP op. 0..7 are the portable BSD/Solaris numbers; 8..10 are
#: dump's extension (Solaris RETEN, ERASE, EOM). Anything else is EINVAL.
V1_IOCTL_OPS: dict[int, int] = {
    0: 5,  # MTWEOF
    1: 1,  # MTFSF
    2: 2,  # MTBSF
    3: 3,  # MTFSR
    4: 4,  # MTBSR
    5: 6,  # MTREW
    6: 7,  # MTOFFL
    7: 8,  # MTNOP
    8: 9,  # MTRETEN (dump only)
    9: 13,  # MTERASE (dump only)
    10: 12,  # MTEOM (dump only)
}

#: V1 ``i`` op → Linux MTIOCTOP op. 0 MTCACHE, 1 MTNOCACHE and 5 MTNBSF have no Linux
#: equivalent (EINVAL), like every op not listed.
V1_EXTENDED_OPS: dict[int, int] = {
    2: 9,  # MTRETEN
    3: 13,  # MTERASE
    4: 12,  # MTEOM
}

#: ``s`` sub-commands and the ``struct mtget`` field each reports (librmt remote.c).
#: ``f`` (mt_flags) and ``b`` (mt_bf) have no Linux field: dump answers mt_gstat and 0,
#: Schily EINVAL; the session picks one.
STATUS_FIELDS: dict[str, str] = {
    "T": "mt_type",
    "D": "mt_dsreg",
    "E": "mt_erreg",
    "R": "mt_resid",
    "F": "mt_fileno",
    "B": "mt_blkno",
    "f": "mt_flags",
    "b": "mt_bf",
}
