"""The ``[stores.NAME]`` tables of the configuration: volumes in S3-compatible object stores.

::

    [stores.vault]                     # device names under vault/ live in this store
    url = "s3://tapes/site1"           # bucket and key prefix
    endpoint = "http://127.0.0.1:8333" # omit for AWS; credentials from the standard AWS chain
    region = "us-east-1"
    chunk_size = "16M"                 # records are grouped into immutable chunk objects
    spool_dir = "/var/spool/rmtd"      # acknowledged records wait here until their chunk is stored
    cache_dir = "/var/cache/rmtd"      # chunks read back are cached here, bounded by cache_size
    cache_size = "10G"
    lease_time = 30                    # seconds a volume's lease lasts unless renewed

Only ``url`` is required. Sizes are written as everywhere else (:mod:`rmtd.sizes`); relative
directories are taken from the configuration file's directory. Errors name the key and its
line, as the rest of the configuration's.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from typing import Any

from devices.stored.objects import StoreAddress, parse_s3_url
from devices.stored.volume import StoreSettings
from rmtd.sizes import size_value

Fail = Callable[[tuple[str, ...], str], Exception]
"""Builds the error for a key path and a reason (``rmtd.config.TomlChecker.fail``)."""

_KEYS = (
    "url",
    "endpoint",
    "region",
    "chunk_size",
    "spool_dir",
    "cache_dir",
    "cache_size",
    "lease_time",
)
STORE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
"""A store's name: the first component of the device names it holds (``vault/vol1.tap``)."""
_MIN_CHUNK = 64 << 10
_MAX_CHUNK = 5 << 30  # S3's largest single PUT


def check_stores(table: object, fail: Fail, base_dir: str) -> dict[str, StoreSettings]:
    """Check the ``stores`` table; return the stores by name."""
    if not isinstance(table, dict):
        raise fail(("stores",), "expected tables ([stores.NAME]), got a value")
    found: dict[str, StoreSettings] = {}
    for name, entry in table.items():
        at = ("stores", name)
        if not STORE_NAME.match(name):
            raise fail(at, "not a store name (letters, digits, _ . -, not starting with . or -)")
        if not isinstance(entry, dict):
            raise fail(at, f"expected a table ([stores.{name}])")
        found[name] = _store(name, entry, at, fail, base_dir)
    return found


def _store(
    name: str, entry: dict[str, Any], at: tuple[str, ...], fail: Fail, base_dir: str
) -> StoreSettings:
    for key in entry:
        if key not in _KEYS:
            raise fail((*at, key), f"unknown key (known: {', '.join(_KEYS)})")
    url = _string(entry, (*at, "url"), fail)
    if url is None:
        raise fail((*at, "url"), 'missing: the bucket and key prefix ("s3://bucket/prefix")')
    try:
        bucket, prefix = parse_s3_url(url)
    except ValueError as exc:
        raise fail((*at, "url"), str(exc)) from None
    endpoint = _string(entry, (*at, "endpoint"), fail)
    if endpoint is not None and not re.match(r"https?://[^/\s]+", endpoint):
        raise fail((*at, "endpoint"), f"{endpoint}: expected http://host:port or https://...")
    address = StoreAddress(bucket, prefix, endpoint, _string(entry, (*at, "region"), fail) or "")
    if not address.region:
        address = StoreAddress(bucket, prefix, endpoint)
    chunk = _size(entry, (*at, "chunk_size"), fail, 16 << 20)
    if not _MIN_CHUNK <= chunk <= _MAX_CHUNK:
        raise fail((*at, "chunk_size"), f"{chunk} is out of range 64k..5G")
    return StoreSettings(
        name=name,
        address=address,
        chunk_size=chunk,
        spool_dir=_directory(entry, (*at, "spool_dir"), fail, base_dir, "/var/spool/rmtd"),
        cache_dir=_directory(entry, (*at, "cache_dir"), fail, base_dir, "/var/cache/rmtd"),
        cache_size=_size(entry, (*at, "cache_size"), fail, 10 << 30),
        lease_seconds=_seconds(entry, (*at, "lease_time"), fail, 30.0),
    )


def _string(table: dict[str, Any], at: tuple[str, ...], fail: Fail) -> str | None:
    value = table.get(at[-1])
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise fail(at, f"expected a non-empty string, got {value!r}")
    return value


def _directory(
    table: dict[str, Any], at: tuple[str, ...], fail: Fail, base_dir: str, default: str
) -> str:
    value = _string(table, at, fail)
    if value is None:
        return default
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(value)))


def _size(table: dict[str, Any], at: tuple[str, ...], fail: Fail, default: int) -> int:
    try:
        return size_value(table.get(at[-1], default))
    except ValueError as exc:
        raise fail(at, str(exc)) from None


def _seconds(table: dict[str, Any], at: tuple[str, ...], fail: Fail, default: float) -> float:
    value = table.get(at[-1], default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(at, f"expected a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 1:
        raise fail(at, f"{value} is not a number of seconds >= 1")
    return float(value)
