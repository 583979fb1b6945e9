"""mt's operations as ``vmt`` offers them, and ``mt status`` text as mt-st prints it.

The spellings, abbreviation rule (a unique prefix names an operation), count syntax (``strtol``
with base 0 and a ``k``/``M``/``G`` multiplier) and status layout follow mt-st, so that scripts
written for ``mt`` on a real drive work unchanged with ``vmt``.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from devices.density import density_name, parse_density
from devices.interface import DriveStatus, GeneralStatus, MtOp


@dataclass(frozen=True, slots=True)
class MtOperation:
    """One mt operation.

    Attributes:
        name: its spelling.
        op: the MTIOCTOP code it performs, ``None`` for status and tell.
        writes: it needs the device opened for writing.
        needs_medium: it fails without a loaded volume (mt-st opens without O_NONBLOCK).
        default_count: the count when none is given.
        help: one line for ``--help``.
    """

    name: str
    op: MtOp | None
    writes: bool = False
    needs_medium: bool = True
    default_count: int = 1
    help: str = ""


OPERATIONS: tuple[MtOperation, ...] = (
    MtOperation("weof", MtOp.MTWEOF, help="Write COUNT filemarks.", writes=True),
    MtOperation("eof", MtOp.MTWEOF, help="Write COUNT filemarks.", writes=True),
    MtOperation("fsf", MtOp.MTFSF, help="Space forward over COUNT filemarks."),
    MtOperation("fsfm", MtOp.MTFSFM, help="Space to just before the COUNT-th filemark ahead."),
    MtOperation("bsf", MtOp.MTBSF, help="Space backward over COUNT filemarks."),
    MtOperation("bsfm", MtOp.MTBSFM, help="Space to just after the COUNT-th filemark behind."),
    MtOperation("fsr", MtOp.MTFSR, help="Space forward over COUNT records."),
    MtOperation("bsr", MtOp.MTBSR, help="Space backward over COUNT records."),
    MtOperation("rewind", MtOp.MTREW, help="Rewind to the beginning of the tape."),
    MtOperation("offline", MtOp.MTOFFL, help="Rewind and unload the volume."),
    MtOperation("rewoffl", MtOp.MTOFFL, help="Rewind and unload the volume."),
    MtOperation("eject", MtOp.MTOFFL, help="Rewind and unload the volume."),
    MtOperation("retension", MtOp.MTRETEN, help="Retension the tape (rewinds)."),
    MtOperation("eod", MtOp.MTEOM, help="Space to the end of data."),
    MtOperation("eom", MtOp.MTEOM, help="Space to the end of data."),
    MtOperation("seod", MtOp.MTEOM, help="Space to the end of data."),
    MtOperation(
        "seek", MtOp.MTSEEK, help="Locate logical object COUNT (records and filemarks count)."
    ),
    MtOperation("tell", None, help="Print the logical object number."),
    MtOperation("status", None, help="Print the drive status as mt-st does.", needs_medium=False),
    MtOperation(
        "erase", MtOp.MTERASE, help="Erase from the position to the end of the tape.", writes=True
    ),
    MtOperation(
        "setblk",
        MtOp.MTSETBLK,
        help="Set the block size (0: variable-block mode).",
        needs_medium=False,
    ),
    MtOperation("setdensity", MtOp.MTSETDENSITY, help="Set the density code.", needs_medium=False),
    MtOperation("lock", MtOp.MTLOCK, help="Lock the drive door."),
    MtOperation("unlock", MtOp.MTUNLOCK, help="Unlock the drive door."),
    MtOperation("load", MtOp.MTLOAD, help="Load the volume.", needs_medium=False),
    MtOperation("unload", MtOp.MTUNLOAD, help="Rewind and unload the volume."),
    MtOperation(
        "compression",
        MtOp.MTCOMPRESSION,
        help="Turn compression on (1) or off (0).",
        needs_medium=False,
    ),
    MtOperation("nop", MtOp.MTNOP, help="Do nothing (flush buffers)."),
    MtOperation("reset", MtOp.MTRESET, help="Reset the drive (rewinds)."),
)
"""Every operation, in mt-st's table order (which decides what an abbreviation means)."""


def resolve_operation(word: str) -> MtOperation | str:
    """Find the operation ``word`` names, exactly or as a unique prefix.

    Returns:
        The operation, or a message saying why ``word`` names none.
    """
    for operation in OPERATIONS:
        if operation.name == word:
            return operation
    matches = {o.name for o in OPERATIONS if o.name.startswith(word)} if word else set()
    if len(matches) == 1:
        name = matches.pop()
        return next(o for o in OPERATIONS if o.name == name)
    if matches:
        return f'ambiguous command "{word}" ({", ".join(sorted(matches))})'
    return f'unknown command "{word}"'


def looks_like_count(text: str) -> bool:
    """Whether ``text`` is meant as an mt count (it starts with a digit or a sign).

    Drive names start with a letter, ``_`` or ``$``, so ``vmt unload mua0`` and
    ``vmt -f DEVICE unload 1`` cannot be confused.
    """
    return bool(text) and (text[0].isdigit() or text[0] in "+-")


_MULTIPLIERS = {"": 1, "k": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024}


def parse_count(operation: MtOperation, text: str | None) -> int:
    """Parse an mt count: decimal, ``0x`` hex or ``0`` octal, with an optional k, M or G.

    ``setdensity`` also takes a bpi value or a density name.

    Raises:
        click.UsageError: for a count that is not a number, negative, or too large.
    """
    if text is None:
        return operation.default_count
    if operation.op is MtOp.MTSETDENSITY:
        try:
            return parse_density(text)
        except OSError as exc:
            raise click.UsageError(str(exc.strerror)) from None
    digits = text.rstrip("kMG")
    unit = text[len(digits) :]
    try:
        value = int(digits, 0) if digits not in ("", "-") else None
    except ValueError:
        value = None
    if value is None or unit not in _MULTIPLIERS:
        raise click.UsageError(f"illegal count {text!r}")
    if value < 0:
        raise click.UsageError("negative repeat count")
    value *= _MULTIPLIERS[unit]
    if value > 0x7FFFFFFF:
        raise click.UsageError("repeat count too large")
    return value


_BIT_NAMES = (
    (GeneralStatus.EOF, "EOF"),
    (GeneralStatus.BOT, "BOT"),
    (GeneralStatus.EOT, "EOT"),
    (GeneralStatus.SM, "SM"),
    (GeneralStatus.EOD, "EOD"),
    (GeneralStatus.WR_PROT, "WR_PROT"),
    (GeneralStatus.ONLINE, "ONLINE"),
    (GeneralStatus.D_6250, "D_6250"),
    (GeneralStatus.D_1600, "D_1600"),
    (GeneralStatus.D_800, "D_800"),
    (GeneralStatus.DR_OPEN, "DR_OPEN"),
    (GeneralStatus.IM_REP_EN, "IM_REP_EN"),
    (GeneralStatus.CLN, "CLN"),
)


def format_status(status: DriveStatus) -> str:
    """Return the text mt-st's ``mt status`` prints for a SCSI-2 drive with this status."""
    gstat = int(status.gstat)
    bits = "".join(f" {name}" for flag, name in _BIT_NAMES if gstat & flag)
    return (
        "SCSI 2 tape drive:\n"
        f"File number={status.fileno}, block number={status.blkno}, "
        f"partition={status.partition & 0xFF}.\n"
        f"Tape block size {status.block_size} bytes. Density code {status.density:#x} "
        f"({density_name(status.density)}).\n"
        f"Soft error count since last status={status.erreg & 0xFFFF}\n"
        f"General status bits on ({gstat:x}):\n"
        f"{bits}\n"
    )


def status_dict(status: DriveStatus, position: int | None) -> dict[str, object]:
    """The status as ``vmt status --json`` prints it: mt-st's fields, by name.

    Args:
        status: the drive's ``struct mtget``.
        position: the logical object number (MTIOCPOS), ``None`` when the drive cannot say.
    """
    gstat = int(status.gstat)
    return {
        "file": status.fileno,
        "block": status.blkno,
        "partition": status.partition & 0xFF,
        "block_size": status.block_size,
        "density": status.density,
        "density_name": density_name(status.density),
        "gstat": gstat,
        "bits": [name for flag, name in _BIT_NAMES if gstat & flag],
        "position": position,
    }
