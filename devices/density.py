"""SCSI density codes: their names, and the bpi values the old reel drives are known by.

The names are those ``mt-st`` prints in ``mt status`` (its ``densities`` table), so that ``vmt
status`` reads like ``mt status`` on a real drive.
"""

from __future__ import annotations

import errno

from devices.errors import tape_error

DENSITY_NAMES: dict[int, str] = {
    0x00: "default",
    0x01: "NRZI (800 bpi)",
    0x02: "PE (1600 bpi)",
    0x03: "GCR (6250 bpi)",
    0x04: "QIC-11",
    0x05: "QIC-45/60 (GCR, 8000 bpi)",
    0x06: "PE (3200 bpi)",
    0x07: "IMFM (6400 bpi)",
    0x08: "GCR (8000 bpi)",
    0x09: "GCR (37871 bpi)",
    0x0A: "MFM (6667 bpi)",
    0x0B: "PE (1600 bpi)",
    0x0C: "GCR (12960 bpi)",
    0x0D: "GCR (25380 bpi)",
    0x0F: "QIC-120 (GCR 10000 bpi)",
    0x10: "QIC-150/250 (GCR 10000 bpi)",
    0x11: "QIC-320/525 (GCR 16000 bpi)",
    0x12: "QIC-1350 (RLL 51667 bpi)",
    0x13: "DDS (61000 bpi)",
    0x14: "EXB-8200 (RLL 43245 bpi)",
    0x15: "EXB-8500 or QIC-1000",
    0x16: "MFM 10000 bpi",
    0x17: "MFM 42500 bpi",
    0x18: "TZ86",
    0x19: "DLT 10GB",
    0x1A: "DLT 20GB",
    0x1B: "DLT 35GB",
    0x1C: "QIC-385M",
    0x1D: "QIC-410M",
    0x1E: "QIC-1000C",
    0x1F: "QIC-2100C",
    0x20: "QIC-6GB",
    0x21: "QIC-20GB",
    0x22: "QIC-2GB",
    0x23: "QIC-875",
    0x24: "DDS-2",
    0x25: "DDS-3",
    0x26: "DDS-4 or QIC-4GB",
    0x27: "Exabyte Mammoth",
    0x28: "Exabyte Mammoth-2",
    0x29: "QIC-3080MC, IBM 3590 B",
    0x2A: "IBM 3590 E",
    0x30: "AIT-1 or MLR3",
    0x31: "AIT-2",
    0x32: "AIT-3 or SLR7",
    0x33: "SLR6",
    0x34: "SLR100",
    0x40: "DLT1 40 GB, or Ultrium",
    0x41: "DLT 40GB, or Ultrium2",
    0x42: "LTO-2",
    0x44: "LTO-3",
    0x45: "QIC-3095-MC (TR-4)",
    0x46: "LTO-4",
    0x47: "DDS-5 or TR-5",
    0x48: "SDLT220",
    0x49: "SDLT320",
    0x4A: "SDLT600, T10000A",
    0x4B: "T10000B",
    0x4C: "T10000C",
    0x4D: "T10000D",
    0x51: "IBM 3592 J1A",
    0x52: "IBM 3592 E05",
    0x53: "IBM 3592 E06",
    0x54: "IBM 3592 E07",
    0x55: "IBM 3592 E08",
    0x58: "LTO-5",
    0x5A: "LTO-6",
    0x5C: "LTO-7",
    0x5D: "LTO-7-M8",
    0x5E: "LTO-8",
    0x60: "LTO-9",
}
"""Density code to the name ``mt status`` shows for it."""

BPI_CODES: dict[int, int] = {800: 0x01, 1600: 0x02, 6250: 0x03}
"""Reel-tape densities in bits per inch, as OpenVMS ``/DENSITY=`` and users name them."""


def density_name(code: int) -> str:
    """Return the name ``mt status`` prints for density ``code``."""
    return DENSITY_NAMES.get(code, "no translation")


def parse_density(text: str) -> int:
    """Parse a density given as bpi (800, 1600, 6250), a code (0x42, 66) or a name (LTO-2).

    Raises:
        OSError: EINVAL when the text names no density code 0..255.
    """
    value = text.strip()
    try:
        number = int(value, 0)
    except ValueError:
        for code, name in DENSITY_NAMES.items():
            if name.lower() == value.lower():
                return code
        raise tape_error(errno.EINVAL, f"unknown density {text!r}") from None
    if number in BPI_CODES:
        return BPI_CODES[number]
    if 0 <= number <= 0xFF:
        return number
    raise tape_error(errno.EINVAL, f"density {text!r} is neither a bpi value nor a code 0..255")
