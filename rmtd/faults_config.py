"""The ``[faults."NAME"]`` tables of the configuration: faults to inject (devices.faults).

::

    [faults."flaky.tap"]                         # a path inside root, or a named drive
    read_error = { at = 3, errno = "EIO" }       # the 3rd read of each open fails with EIO
    write_error = { at = 10, errno = "ENOSPC", every = 5 }   # the 10th, 15th, 20th...
    early_warning_at = "1M"                      # sizes as vmt new's (64k, 1M)
    end_of_medium_at = "2M"
    delay = 0.5                                  # seconds before every operation
    disappear_after = 20                         # operations, then ENOMEDIUM

A table is keyed by the device name as clients give it, without qualifiers; a name that is a
configured drive's (any case, colon or not) means that drive. Errors name the key and its line,
as the rest of the configuration's (:func:`rmtd.config.key_error`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

from devices.faults import Faults, NthError, errno_named
from rmtd.sizes import size_value

Fail = Callable[[tuple[str, ...], str], Exception]
"""Builds the error for a key path and a reason (``rmtd.config.TomlChecker.fail``)."""

_KEYS = (
    "read_error",
    "write_error",
    "early_warning_at",
    "end_of_medium_at",
    "delay",
    "disappear_after",
)
_ERROR_KEYS = ("at", "errno", "every")


def check_faults(
    table: object, fail: Fail, drive_key: Callable[[str], str | None]
) -> dict[str, Faults]:
    """Check the ``faults`` table; return the faults by device key (see rmtd.opener).

    Args:
        table: the parsed ``faults`` value.
        fail: makes the error for a key.
        drive_key: the configured drive a name means (normalized), else ``None``.
    """
    if not isinstance(table, dict):
        raise fail(("faults",), 'expected tables ([faults."vol.tap"]), got a value')
    found: dict[str, Faults] = {}
    for name, entry in table.items():
        at = ("faults", name)
        if not name or os.path.isabs(name) or ".." in name.split("/"):
            raise fail(at, "must be a device name inside root or a drive's name")
        if not isinstance(entry, dict):
            raise fail(at, f'expected a table ([faults."{name}"])')
        key = drive_key(name) or os.path.normpath(name)
        if key in found:
            raise fail(at, f"faults for {key} are given twice")
        found[key] = _faults(entry, at, fail)
    return found


def _faults(entry: dict[str, Any], at: tuple[str, ...], fail: Fail) -> Faults:
    for key in entry:
        if key not in _KEYS:
            raise fail((*at, key), f"unknown key (known: {', '.join(_KEYS)})")
    delay = entry.get("delay", 0.0)
    if isinstance(delay, bool) or not isinstance(delay, int | float):
        raise fail((*at, "delay"), "expected a number of seconds")
    if not math.isfinite(delay) or delay < 0:
        raise fail((*at, "delay"), f"{delay} is not a number of seconds >= 0")
    return Faults(
        read_error=_nth(entry, (*at, "read_error"), fail),
        write_error=_nth(entry, (*at, "write_error"), fail),
        early_warning_at=_size(entry, (*at, "early_warning_at"), fail),
        end_of_medium_at=_size(entry, (*at, "end_of_medium_at"), fail),
        delay=float(delay),
        disappear_after=_count(entry, (*at, "disappear_after"), fail, 0),
    )


def _count(table: dict[str, Any], at: tuple[str, ...], fail: Fail, low: int) -> int | None:
    value = table.get(at[-1])
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(at, f"expected an integer, got {value!r}")
    if value < low:
        raise fail(at, f"{value} is less than {low}")
    return value


def _nth(table: dict[str, Any], at: tuple[str, ...], fail: Fail) -> NthError | None:
    value = table.get(at[-1])
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fail(at, 'expected a table such as { at = 3, errno = "EIO" }')
    for key in value:
        if key not in _ERROR_KEYS:
            raise fail((*at, key), f"unknown key (known: {', '.join(_ERROR_KEYS)})")
    nth = _count(value, (*at, "at"), fail, 1)
    if nth is None:
        raise fail((*at, "at"), "missing: which read or write fails (1 = the first)")
    name = value.get("errno", "EIO")
    try:
        code = errno_named(name) if isinstance(name, str) else None
    except ValueError as exc:
        raise fail((*at, "errno"), str(exc)) from None
    if code is None:
        raise fail((*at, "errno"), f'expected an errno name such as "EIO", got {name!r}')
    return NthError(nth, code, _count(value, (*at, "every"), fail, 1) or 0)


def _size(table: dict[str, Any], at: tuple[str, ...], fail: Fail) -> int | None:
    value = table.get(at[-1])
    if value is None:
        return None
    try:
        return size_value(value)
    except ValueError as exc:
        raise fail(at, str(exc)) from None
