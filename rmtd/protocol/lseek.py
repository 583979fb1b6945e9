"""The ``L`` argument order: offset-first (BSD family) or whence-first (GNU >= 2009).

Which line holds the whence depends on who wrote the client (GNU rmt.c and rtapelib.c, the
BSD rmt.c): every BSD-derived client and GNU tar <= 1.34 send offset then whence; GNU tar
>= 1.35 sends whence then offset. Getting it wrong corrupts archives silently, so the server decides
per request with the rule below and logs the decision.
"""

from __future__ import annotations

import errno
from typing import Literal, NamedTuple, TypeAlias

from rmtd.protocol.errors import RequestError

__all__ = [
    "QFA_SEEK",
    "QFA_TELL",
    "SEEK_WHENCES",
    "LseekOrder",
    "ResolvedSeek",
    "resolve_lseek",
]

#: How to read the two ``L`` lines.
LseekOrder: TypeAlias = Literal["auto", "offset-first", "whence-first"]

#: Whence values valid in either order: SET, CUR, END, DATA, HOLE.
SEEK_WHENCES = frozenset(range(5))
#: dump's QFA extension (``restore -Q``): get / go to the tape block; BSD order only.
QFA_TELL, QFA_SEEK = 10, 11


class ResolvedSeek(NamedTuple):
    """The outcome of `resolve_lseek`.

    Attributes:
        offset: The byte offset (or QFA block number).
        whence: 0..4, or `QFA_TELL`/`QFA_SEEK`.
        order: The reading that was applied.
    """

    offset: int
    whence: int
    order: Literal["offset-first", "whence-first"]


def resolve_lseek(
    first: int,
    second: int,
    order: LseekOrder = "auto",
    *,
    symbolic_first: bool = False,
    qfa: bool = True,
) -> ResolvedSeek:
    """Decide which ``L`` line is the offset and which the whence.

    ``auto``: the BSD reading is possible when `second` is a
    whence (0..4, or 10/11 with `qfa`), the GNU reading when `first` is (0..4 or
    symbolic). If only one is possible, use it. If both are: QFA values mean BSD;
    otherwise prefer the reading whose offset is 0 (clients sending two tiny numbers
    are doing "tell", "rewind" or "to end"); if that does not decide, BSD.
    Examples: ``L0 1`` → BSD tell (tar 1.34), ``L1 0`` → GNU tell (tar 1.35),
    ``L30720 0`` → BSD, ``L0 30720`` → GNU, ``L0 10`` → QFA tell.

    Args:
        first: The first line.
        second: The second line.
        order: ``auto``, or force ``offset-first`` (BSD) / ``whence-first`` (GNU).
        symbolic_first: The first line was a symbolic whence (only GNU order fits).
        qfa: Accept whence 10 and 11 in BSD order.

    Returns:
        Offset, whence and the order applied.

    Raises:
        RequestError: EINVAL when the requested (or every) reading has no valid whence.
    """
    bsd_whences = SEEK_WHENCES | {QFA_TELL, QFA_SEEK} if qfa else SEEK_WHENCES
    bsd_ok = not symbolic_first and second in bsd_whences
    gnu_ok = symbolic_first or first in SEEK_WHENCES
    if order == "offset-first":
        use_bsd = bsd_ok
    elif order == "whence-first":
        use_bsd = False
    elif bsd_ok and gnu_ok:
        use_bsd = second in (QFA_TELL, QFA_SEEK) or not (second == 0 and first != 0)
    else:
        use_bsd = bsd_ok
    if use_bsd:
        return ResolvedSeek(first, second, "offset-first")
    if gnu_ok and order != "offset-first":
        return ResolvedSeek(second, first, "whence-first")
    raise RequestError(errno.EINVAL, f"invalid seek direction in L{first} {second} ({order})")
