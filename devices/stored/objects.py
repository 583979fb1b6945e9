"""The object store as the stored volumes use it: a few calls, and S3 behind them.

:class:`ObjectStore` is the seam: the stored volume code asks for whole objects, byte ranges,
plain PUTs of immutable chunks and one compare-and-swap PUT (``If-Match`` on an ETag, or
``If-None-Match: *`` to create), and gets ``OSError`` with an errno for every failure. The one
implementation, :class:`S3Objects`, is boto3's S3 client (the ecosystem's standard; its
``put_object`` takes ``IfMatch``/``IfNoneMatch``, S3's conditional writes of 2024).

Stores differ in two ways that matter here (both handled in this one place):

* A store that answers a conditional PUT with ``501 Not Implemented`` (OpenStack Swift's s3api)
  has no compare-and-swap: two hosts could then overwrite each other's manifests and lose
  records. :meth:`check_conditional_put` proves the store refuses a second create,
  and the caller refuses to serve such a store.
* RFC 9110 quotes ETags, and S3 sends them quoted; Ceph RGW 16 refuses a quoted ``If-Match``
  (``400``). A quoted ``If-Match`` refused with a 400 is retried once unquoted, and the store is
  then sent unquoted ETags from then on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from devices.errors import tape_error


class ConflictError(Exception):
    """A conditional PUT lost: the object exists (create) or changed (``If-Match``)."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object as a listing shows it."""

    key: str
    size: int
    modified: float
    """Seconds since the epoch."""


@dataclass(frozen=True, slots=True)
class StoreAddress:
    """Where a store is and how to reach it.

    Attributes:
        bucket: the bucket.
        prefix: the key prefix under which volumes live ("" or ending without a slash).
        endpoint: the S3 endpoint URL; ``None`` for AWS itself.
        region: the region ("us-east-1" when none is given).
    """

    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    region: str = "us-east-1"

    @property
    def url(self) -> str:
        """The ``s3://bucket/prefix`` form, for messages."""
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, *parts: str) -> str:
        """The object key of ``parts`` under the prefix."""
        return "/".join(p for p in (self.prefix, *parts) if p)


def parse_s3_url(url: str) -> tuple[str, str]:
    """Split ``s3://bucket/some/prefix`` into the bucket and the prefix (no slashes around).

    Raises:
        ValueError: for what is not an ``s3://`` URL with a bucket.
    """
    if not url.startswith("s3://"):
        raise ValueError(f"{url}: not an s3:// URL")
    bucket, _, prefix = url[5:].partition("/")
    if not bucket:
        raise ValueError(f"{url}: no bucket")
    return bucket, prefix.strip("/")


class ObjectStore(Protocol):
    """What the stored volumes need from an object store."""

    address: StoreAddress

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or ``None`` if there is none."""
        ...

    def put(self, key: str, data: bytes | memoryview) -> str:
        """Store an object unconditionally (chunks: immutable, never named twice)."""
        ...

    def put_file(self, key: str, fd: int, length: int) -> str:
        """Store the first ``length`` bytes of the file open on ``fd`` (streamed, not loaded)."""
        ...

    def download(self, key: str, length: int, fd: int) -> None:
        """Write the whole object (``length`` bytes, EIO otherwise) to ``fd``, streamed."""
        ...

    def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        """Replace the object only if its ETag is ``etag`` (``None``: only if there is none).

        Returns the new ETag. Raises :class:`ConflictError` when the condition fails.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove an object (no error if it is gone)."""
        ...

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Every object whose key starts with ``prefix``."""
        ...


def _status(exc: Any) -> tuple[int, str]:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return status, code


class S3Objects:
    """An :class:`ObjectStore` over boto3's S3 client (thread-safe: one client, shared)."""

    def __init__(self, address: StoreAddress, pool: int = 16) -> None:
        import boto3.session  # deferred: only stored volumes pay for importing boto3
        from botocore.config import Config

        self.address = address
        config = Config(
            region_name=address.region,
            max_pool_connections=pool,
            retries={"max_attempts": 4, "mode": "standard"},
            s3={"addressing_style": "path"} if address.endpoint else {},
            # Checksums only when an operation requires them: the CRC of every chunk would
            # be computed in this process for nothing (the store checks Content-MD5 anyway).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A session of its own: boto3's default session keeps the credentials it found first
        # for the life of the process, and a process may reach stores with other credentials.
        session = boto3.session.Session()
        self._client = session.client("s3", endpoint_url=address.endpoint, config=config)
        self._quote = True
        self._lock = threading.Lock()

    def _fail(self, exc: Exception, key: str, what: str) -> OSError:
        status, code = _status(exc)
        where = f"{self.address.bucket}/{key}"
        kind = type(exc).__name__
        if kind in ("NoCredentialsError", "PartialCredentialsError"):
            return tape_error(
                errno.EACCES,
                f"{self.address.url}: no credentials for the store (the standard AWS chain: "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, a role)",
            )
        if kind in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"):
            endpoint = self.address.endpoint or "AWS"
            return tape_error(errno.EIO, f"{self.address.url}: cannot reach {endpoint} ({exc})")
        if status in (401, 403) or code in ("AccessDenied", "InvalidAccessKeyId"):
            return tape_error(
                errno.EACCES, f"{where}: {what}: access denied by the store ({code or status})"
            )
        if code == "NoSuchBucket":
            return tape_error(errno.ENOENT, f"s3://{self.address.bucket}: no such bucket")
        if status == 404 or code == "NoSuchKey":
            return tape_error(errno.ENOENT, f"{where}: {what}: not in the store ({code})")
        detail = f"{code or kind}" + (f", HTTP {status}" if status else "")
        return tape_error(errno.EIO, f"{where}: {what} failed ({detail}: {exc})")

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or ``None`` when there is no such object."""
        try:
            answer = self._client.get_object(Bucket=self.address.bucket, Key=key)
            return answer["Body"].read(), str(answer["ETag"])
        except Exception as exc:
            status, code = _status(exc)
            # A missing bucket is a 404 too: that is an error, not a missing object.
            if (status == 404 or code == "NoSuchKey") and code != "NoSuchBucket":
                return None
            raise self._fail(exc, key, "read") from None

    def put(self, key: str, data: bytes | memoryview) -> str:
        """Store ``data`` as ``key``; returns its ETag."""
        try:
            answer = self._client.put_object(Bucket=self.address.bucket, Key=key, Body=data)
        except Exception as exc:
            raise self._fail(exc, key, "upload") from None
        return str(answer["ETag"])

    def put_file(self, key: str, fd: int, length: int) -> str:
        """Store ``length`` bytes of ``fd`` from its start, read in pieces (a file object)."""
        if os.fstat(fd).st_size != length:
            raise tape_error(errno.EIO, f"{key}: the file is not the {length} bytes to upload")
        with os.fdopen(os.dup(fd), "rb") as body:
            try:
                answer = self._client.put_object(
                    Bucket=self.address.bucket, Key=key, Body=body, ContentLength=length
                )
            except Exception as exc:
                raise self._fail(exc, key, "upload") from None
        return str(answer["ETag"])

    def download(self, key: str, length: int, fd: int) -> None:
        """Write the object to ``fd`` a megabyte at a time; EIO unless it is ``length`` bytes."""
        got = 0
        try:
            answer = self._client.get_object(Bucket=self.address.bucket, Key=key)
            for piece in answer["Body"].iter_chunks(_PIECE):
                view = memoryview(piece)
                while view:
                    view = view[os.write(fd, view) :]
                got += len(piece)
        except OSError:
            raise
        except Exception as exc:
            raise self._fail(exc, key, f"read of {length} bytes") from None
        if got != length:
            raise tape_error(
                errno.EIO,
                f"{self.address.bucket}/{key}: {got} bytes where the manifest says {length} "
                "(a damaged or replaced chunk)",
            )

    def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        """Compare-and-swap PUT (see :class:`ObjectStore`)."""
        if etag is None:
            return self._put_conditional(key, data, {"IfNoneMatch": "*"})
        if self._quote:
            try:
                return self._put_conditional(key, data, {"IfMatch": _quoted(etag)})
            except _QuotedRefusedError:
                with self._lock:
                    self._quote = False  # Ceph RGW 16: only unquoted ETags from now on
        return self._put_conditional(key, data, {"IfMatch": etag.strip('"')})

    def _put_conditional(self, key: str, data: bytes, condition: dict[str, str]) -> str:
        try:
            answer = self._client.put_object(
                Bucket=self.address.bucket, Key=key, Body=data, **condition
            )
        except Exception as exc:
            status, code = _status(exc)
            if status in (409, 412) or code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise ConflictError(key) from None
            if status == 501 or code == "NotImplemented":
                raise tape_error(errno.EOPNOTSUPP, _NO_CAS.format(url=self.address.url)) from None
            if status == 400 and "IfMatch" in condition and condition["IfMatch"].startswith('"'):
                raise _QuotedRefusedError from None
            raise self._fail(exc, key, "conditional upload") from None
        return str(answer["ETag"])

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing object is no error."""
        try:
            self._client.delete_object(Bucket=self.address.bucket, Key=key)
        except Exception as exc:
            status, _ = _status(exc)
            if status != 404:
                raise self._fail(exc, key, "delete") from None

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Every object under ``prefix``, page by page."""
        pages = self._client.get_paginator("list_objects_v2")
        try:
            for page in pages.paginate(Bucket=self.address.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield StoredObject(
                        str(item["Key"]), int(item["Size"]), item["LastModified"].timestamp()
                    )
        except Exception as exc:
            raise self._fail(exc, prefix, "listing") from None


def check_conditional_put(objects: ObjectStore, probe_key: str) -> None:
    """Prove that the store has compare-and-swap: a second create of one key must fail.

    Raises:
        OSError: EOPNOTSUPP when the store answers 501 or accepts the second create (it
            ignores ``If-None-Match``); the store's errors (EACCES, EIO...).
    """
    key = f"{probe_key}-{uuid.uuid4().hex}"
    try:
        objects.put_if(key, b"rmtd: does this store refuse a second create?\n", None)
        try:
            objects.put_if(key, b"rmtd: the second create\n", None)
        except ConflictError:
            return
        raise tape_error(
            errno.EOPNOTSUPP,
            f"{objects.address.url}: the store ignores If-None-Match (a second create of one "
            "key succeeded): without compare-and-swap two hosts could lose each other's "
            "records; use a store with conditional writes (AWS S3, Ceph RGW, SeaweedFS, MinIO)",
        )
    finally:
        with contextlib.suppress(OSError):
            objects.delete(key)


_PIECE = 1 << 20
"""How much of an object is held in memory at once while it is downloaded."""

_NO_CAS = (
    "{url}: the store answers a conditional PUT with 501 Not Implemented: without "
    "compare-and-swap two hosts could lose each other's records; use a store with "
    "conditional writes (AWS S3, Ceph RGW, SeaweedFS, MinIO)"
)


class _QuotedRefusedError(Exception):
    """A store answered a quoted ``If-Match`` with 400 (Ceph RGW 16)."""


def _quoted(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'
