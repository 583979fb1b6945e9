"""Checking the configuration's ``[access]`` table into an :class:`~rmtd.access.AccessConfig`.

:mod:`rmtd.config` calls :func:`check_access` with its ``fail`` function, so every error names
the file, the line and the key like the rest of the configuration (a proxy entry's key also
names the entry's 1-based number, as ``rmtd access show`` numbers them).
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from rmtd.access import MODES, AccessConfig, HostPattern, Mode, ProxyEntry

ACCESS_KEYS = ("case_insensitive", "reject", "hosts_equiv", "require_privileged_port", "proxy")
PROXY_KEYS = ("remote_host", "remote_user", "local_user", "devices", "mode")


class Fail(Protocol):
    """Builds the error for a bad key (``entry``: the proxy entry's 1-based number)."""

    def __call__(self, path: tuple[str, ...], why: str, entry: int | None = None) -> Exception:
        """Return the error naming file, line and ``path``."""


def check_access(table: object, fail: Fail, base_dir: str) -> AccessConfig:
    """Check the ``[access]`` table.

    Args:
        table: the parsed table.
        fail: builds the error for a bad key.
        base_dir: a relative ``hosts_equiv`` is taken from here (the configuration's directory).

    Raises:
        Exception: what ``fail`` builds, for an unknown key, a wrong type or a bad value.
    """
    at = ("access",)
    if not isinstance(table, dict):
        raise fail(at, f"expected a table ([access]), got {_kind(table)}")
    _unknown(table, at, ACCESS_KEYS, fail)
    equiv = _string(table, "hosts_equiv", (*at, "hosts_equiv"), fail, allow_empty=True)
    proxy = table.get("proxy", [])
    if not isinstance(proxy, list):
        raise fail(
            (*at, "proxy"), f"expected an array of tables ([[access.proxy]]), got {_kind(proxy)}"
        )
    return AccessConfig(
        case_insensitive=_boolean(table, "case_insensitive", fail),
        reject=tuple(_host(h, (*at, "reject"), fail) for h in _strings(table, "reject", fail)),
        hosts_equiv=os.path.join(base_dir, os.path.expanduser(equiv)) if equiv else None,
        require_privileged_port=_boolean(table, "require_privileged_port", fail),
        proxy=tuple(_entry(entry, number, fail) for number, entry in enumerate(proxy, 1)),
    )


def _entry(entry: object, number: int, fail: Fail) -> ProxyEntry:
    at = ("access", "proxy")
    if not isinstance(entry, dict):
        raise fail(at, f"expected a table, got {_kind(entry)}", number)
    for key in entry:
        if key not in PROXY_KEYS:
            raise fail((*at, key), f"unknown key (known: {', '.join(PROXY_KEYS)})", number)
    for key in PROXY_KEYS:
        if key not in entry:
            raise fail(at, f"missing key {key} (every entry has {', '.join(PROXY_KEYS)})", number)
    host = _host(
        _string(entry, "remote_host", (*at, "remote_host"), fail, number), at, fail, number
    )
    users = [_user(entry, key, fail, number) for key in ("remote_user", "local_user")]
    mode = entry["mode"]
    if mode not in MODES:
        choices = ", ".join(f'"{m}"' for m in MODES)
        raise fail((*at, "mode"), f"{mode!r} is not one of {choices}", number)
    devices = entry["devices"]
    if not isinstance(devices, list) or not devices:
        why = f"expected a non-empty list of globs, got {_kind(devices)}"
        raise fail((*at, "devices"), why, number)
    globs = tuple(_glob(glob, fail, number) for glob in devices)
    checked: Mode = mode
    return ProxyEntry(host, users[0], users[1], globs, checked)


def _host(text: str, at: tuple[str, ...], fail: Fail, number: int | None = None) -> HostPattern:
    try:
        return HostPattern.parse(text)
    except ValueError as exc:
        path = at if at[-1] == "reject" else (*at, "remote_host")
        raise fail(path, str(exc), number) from None


def _user(entry: dict[str, Any], key: str, fail: Fail, number: int) -> str:
    at = ("access", "proxy", key)
    user = _string(entry, key, at, fail, number)
    if any(c.isspace() or not c.isprintable() or c == "@" for c in user):
        raise fail(at, f"{user!r} is not a user name (or '*')", number)
    return user


def check_glob(glob: str) -> str | None:
    """Why ``glob`` cannot name devices inside the root, or ``None`` when it can."""
    if glob.startswith("/"):
        return "must be a name inside root (no leading /)"
    if any(part in ("", "..", ".") for part in glob.split("/")):
        return "must not hold empty, '.' or '..' parts"
    if any(not c.isprintable() for c in glob):
        return "must not hold control characters"
    return None


def _glob(glob: object, fail: Fail, number: int) -> str:
    at = ("access", "proxy", "devices")
    if not isinstance(glob, str):
        raise fail(at, f"expected a list of strings, holds {_kind(glob)}", number)
    why = check_glob(glob)
    if why is not None:
        raise fail(at, f"{glob!r}: {why}", number)
    return glob


def _unknown(
    table: dict[str, Any], at: tuple[str, ...], known: tuple[str, ...], fail: Fail
) -> None:
    for key in table:
        if key not in known:
            raise fail((*at, key), f"unknown key (known: {', '.join(known)})")


def _boolean(table: dict[str, Any], key: str, fail: Fail) -> bool:
    value = table.get(key, True)
    if not isinstance(value, bool):
        raise fail(("access", key), f"expected true or false, got {_kind(value)}")
    return value


def _string(
    table: dict[str, Any],
    key: str,
    at: tuple[str, ...],
    fail: Fail,
    number: int | None = None,
    allow_empty: bool = False,
) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise fail(at, f"expected a string, got {_kind(value)}", number)
    if not value and not allow_empty:
        raise fail(at, "must not be empty", number)
    return value


def _strings(table: dict[str, Any], key: str, fail: Fail) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(("access", key), f"expected a list of strings, got {_kind(value)}")
    return value


def _kind(value: object) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    if isinstance(value, dict | list):
        return "a table" if isinstance(value, dict) else "a list"
    return f"{kinds.get(type(value), type(value).__name__)} ({value!r})"
