"""Sizes written as text: ``1048576``, ``64k``, ``100M``, ``1.5G`` (powers of 1024).

One syntax for every place a size is written: ``vmt new --capacity``, ``vmt synth`` specs and the
server's ``[faults]`` and ``[stores]`` tables.
"""

from __future__ import annotations

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """Parse a size into bytes.

    Raises:
        ValueError: not a size, or a negative one (the message quotes ``text``).
    """
    value = text.strip().lower().removesuffix("b").removesuffix("i")
    suffix = value[-1:] if value[-1:] in _UNITS and value[-1:] else ""
    try:
        number = float(value[: len(value) - len(suffix)])
    except ValueError:
        raise ValueError(f"{text!r} is not a size such as 4096, 64k, 100M") from None
    if number < 0:
        raise ValueError(f"{text!r} is negative")
    return int(number * _UNITS[suffix])


def size_value(value: object) -> int:
    """A size as a TOML value gives it: an integer of bytes, or a string for :func:`parse_size`.

    Raises:
        ValueError: anything else, or a negative size (the message says what was expected).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{value} is negative")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a size (an integer, or a string such as 64k), got {value!r}")
    return parse_size(value)
