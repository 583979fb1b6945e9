"""Stored volumes in ``vmt``: ``s3://bucket/prefix/volume.tap`` wherever an image is named.

A URL names a volume in an S3-compatible store (:mod:`devices.stored`): the bucket, then the
store's prefix (every component but the last), then the volume. The image commands that take
one have ``--endpoint`` and ``--region``; without ``--endpoint``, ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL`` name the endpoint (what boto3 itself reads; taken here so that messages
and the spool's name say which store was meant), else AWS itself. Credentials come from the
standard AWS chain (``AWS_ACCESS_KEY_ID``...).

A stored volume is opened as the server opens one: under its lease (another opener gets EBUSY
naming the holder), with a spool under ``$XDG_STATE_HOME/rmtd/spool`` and a chunk cache under
``$XDG_CACHE_HOME/rmtd/chunks`` (defaults ``~/.local/state``, ``~/.cache``).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from devices.drive import VirtualTapeDrive
from devices.errors import tape_error
from devices.interface import OpenOptions
from devices.kinds import DeviceKind
from devices.stored.objects import StoreAddress, parse_s3_url
from devices.stored.volume import Store, StoreSettings

SCHEME = "s3://"
CACHE_SIZE = 1 << 30
"""The chunk cache's bound for ``vmt`` (a reader's cache, not a server's)."""
_META = "rmtd.vmt.store"

F = TypeVar("F", bound=Callable[..., Any])


def is_store_url(name: str) -> bool:
    """Whether ``name`` names a stored volume (``s3://...``)."""
    return name.startswith(SCHEME)


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """``--endpoint`` and ``--region`` as given (``None``: from the environment)."""

    endpoint: str | None = None
    region: str | None = None


def store_options(command: F) -> F:
    """Add ``--endpoint`` and ``--region`` to an image command that may take an s3:// URL."""

    def remember(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is not None and param.name == "endpoint" and not _ENDPOINT.match(value):
            raise click.BadParameter(f"{value}: expected http://host:port or https://...")
        given = ctx.meta.get(_META, StoreOptions())
        ctx.meta[_META] = StoreOptions(
            value if param.name == "endpoint" else given.endpoint,
            value if param.name == "region" else given.region,
        )
        return value

    command = click.option(
        "--region",
        metavar="REGION",
        expose_value=False,
        callback=remember,
        help="The store's region, for s3:// URLs (default: $AWS_REGION, else us-east-1).",
    )(command)
    return click.option(
        "--endpoint",
        metavar="URL",
        expose_value=False,
        callback=remember,
        help="The S3 endpoint of s3:// URLs (default: $AWS_ENDPOINT_URL_S3, "
        "$AWS_ENDPOINT_URL, else AWS).",
    )(command)


_ENDPOINT = re.compile(r"https?://[^/\s]+")


def _given() -> StoreOptions:
    ctx = click.get_current_context(silent=True)
    found = ctx.meta.get(_META) if ctx is not None else None
    return found if isinstance(found, StoreOptions) else StoreOptions()


def address_of(url: str, volume_in_url: bool = True) -> tuple[StoreAddress, str]:
    """The store address and the volume name of ``url`` (``s3://bucket/prefix/vol.tap``).

    With ``volume_in_url`` false, the whole path is the prefix and the volume is ``""``.

    Raises:
        OSError: EINVAL for a URL without a bucket or (when one is wanted) a volume.
    """
    try:
        bucket, path = parse_s3_url(url)
    except ValueError as exc:
        raise tape_error(errno.EINVAL, str(exc)) from None
    if volume_in_url:
        prefix, _, volume = path.rpartition("/")
        if not volume:
            raise tape_error(
                errno.EINVAL, f"{url}: no volume named: give s3://bucket/prefix/volume.tap"
            )
    else:
        prefix, volume = path, ""
    given = _given()
    env = os.environ
    endpoint = given.endpoint or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    region = given.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        return StoreAddress(bucket, prefix, endpoint or None, region), volume
    return StoreAddress(bucket, prefix, endpoint or None), volume


def _state_dir(variable: str, default: str) -> str:
    base = os.environ.get(variable) or os.path.join(os.path.expanduser("~"), default)
    return os.path.join(base, "rmtd")


def store_of(address: StoreAddress, chunk_size: int | None = None) -> Store:
    """A :class:`Store` for ``address`` with ``vmt``'s spool and cache directories."""
    settings = StoreSettings(
        name=address.url,
        address=address,
        spool_dir=os.path.join(_state_dir("XDG_STATE_HOME", ".local/state"), "spool"),
        cache_dir=os.path.join(_state_dir("XDG_CACHE_HOME", ".cache"), "chunks"),
        cache_size=CACHE_SIZE,
    )
    if chunk_size is not None:
        settings = dataclasses.replace(settings, chunk_size=chunk_size)
    return Store(settings)


def open_stored(url: str, options: OpenOptions, kind: DeviceKind) -> VirtualTapeDrive:
    """Open the stored volume ``url`` as a drive (under its lease).

    A volume the store does not have is ENOENT before anything is written to the store (not
    even a lease), unless ``options`` create it.

    Raises:
        OSError: ENOENT, EBUSY naming the holder, the store's errors (one line each).
    """
    address, volume = address_of(url)
    store = store_of(address)
    # Read first, also when creating: a missing bucket is then said before anything is put
    # (some stores, SeaweedFS among them, create a bucket on the first PUT into it).
    if store.manifest(volume) is None and not options.create:
        raise tape_error(errno.ENOENT, f"{url}: no such volume in the store")
    return store.open_volume(volume, options, kind, url)


def refuse_stored(image: str, command: str, instead: str) -> None:
    """Refuse an s3:// URL in a command that works on local files only.

    Raises:
        OSError: EOPNOTSUPP saying what to do instead.
    """
    if is_store_url(image):
        raise tape_error(
            errno.EOPNOTSUPP, f"{image}: vmt {command} works on local images only; {instead}"
        )
