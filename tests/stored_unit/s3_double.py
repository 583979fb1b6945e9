"""Tiny S3 servers (stdlib ``http.server`` in a thread) with the quirks of real stores.

Enough of S3 for boto3's PutObject, GetObject (with ``Range``) and DeleteObject on path-style
URLs (``/bucket/key``), objects in a dict, no signature checked. :class:`Quirk` picks how a
conditional PUT (``If-Match`` / ``If-None-Match``) is answered:

* ``S3``: as AWS S3 does: 412 PreconditionFailed when the condition fails.
* ``NO_CAS``: 501 NotImplemented for every conditional PUT (OpenStack Swift's s3api).
* ``IGNORES_CONDITIONS``: the headers are ignored, every PUT succeeds (a store that claims S3
  but never implemented conditional writes).
* ``CEPH16``: as S3, except that a quoted ``If-Match`` is refused with 400 (Ceph RGW 16 compares
  the header's text with its unquoted ETag); an unquoted one is compared.

Every request is recorded (method, key, the conditional headers, the status answered).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import unquote, urlsplit


class Quirk(Enum):
    """How the double answers conditional PUTs (see the module's docstring)."""

    S3 = "s3"
    NO_CAS = "no-cas"
    IGNORES_CONDITIONS = "ignores-conditions"
    CEPH16 = "ceph16"


@dataclass(frozen=True)
class Request:
    """One request as the double saw and answered it."""

    method: str
    key: str
    if_match: str | None
    if_none_match: str | None
    status: int


ENVIRON = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test-secret",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}
"""Credentials for boto3 (the double checks none), and no user's AWS files or metadata."""


class S3Double:
    """A running double on a free loopback port; a context manager that stops it."""

    def __init__(self, quirk: Quirk = Quirk.S3, bucket: str = "tapes") -> None:
        self.quirk = quirk
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()

    @property
    def endpoint(self) -> str:
        """The endpoint URL to give boto3."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def conditional(self) -> list[Request]:
        """The PUTs that carried a condition, in order."""
        return [r for r in self.requests if r.method == "PUT" and (r.if_match or r.if_none_match)]

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> S3Double:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


_NOT_IMPLEMENTED = "A header you provided implies functionality that is not implemented"
_FAILED = "At least one of the pre-conditions you specified did not hold"


def etag_of(data: bytes) -> str:
    """S3's ETag of a single-part object: its quoted MD5."""
    return f'"{hashlib.md5(data).hexdigest()}"'


def _handler(double: S3Double) -> type[BaseHTTPRequestHandler]:
    class Handler(_S3Handler):
        store = double

    return Handler


class _S3Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and "Expect: 100-continue" answered
    store: S3Double

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the requests are recorded instead."""

    def _key(self) -> str | None:
        path = unquote(urlsplit(self.path).path)
        bucket, _, key = path.lstrip("/").partition("/")
        return key if bucket == self.store.bucket and key else None

    def _answer(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        key = self._key() or ""
        with self.store.lock:
            self.store.requests.append(
                Request(
                    self.command,
                    key,
                    self.headers.get("If-Match"),
                    self.headers.get("If-None-Match"),
                    status,
                )
            )
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<Resource>{self.path}</Resource><RequestId>double</RequestId></Error>"
        ).encode()
        self._answer(status, body, {"Content-Type": "application/xml"})

    def do_PUT(self) -> None:
        """PutObject, with the conditions as the double's quirk answers them."""
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length)
        key = self._key()
        if key is None:
            self._error(400, "InvalidRequest", "not a path-style object URL")
            return
        refusal = self._refusal(key)
        if refusal is not None:
            self._error(*refusal)
            return
        with self.store.lock:
            self.store.objects[key] = data
        self._answer(200, headers={"ETag": etag_of(data)})

    def _refusal(self, key: str) -> tuple[int, str, str] | None:
        if_match = self.headers.get("If-Match")
        if_none_match = self.headers.get("If-None-Match")
        quirk = self.store.quirk
        if (if_match is None and if_none_match is None) or quirk is Quirk.IGNORES_CONDITIONS:
            return None
        if quirk is Quirk.NO_CAS:
            return (
                501,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented",
            )
        with self.store.lock:
            current = self.store.objects.get(key)
        if if_none_match is not None:
            if current is not None:
                return (
                    412,
                    "PreconditionFailed",
                    "At least one of the pre-conditions you specified did not hold",
                )
            return None
        assert if_match is not None
        if quirk is Quirk.CEPH16 and if_match.startswith('"'):
            return 400, "InvalidArgument", "If-Match"  # RGW 16 compares the unquoted ETag
        if current is None:
            return 404, "NoSuchKey", "The specified key does not exist."
        if if_match.strip('"') != etag_of(current).strip('"'):
            return (
                412,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
            )
        return None

    def do_GET(self) -> None:
        """GetObject, whole or a ``bytes=A-B`` range."""
        key = self._key()
        with self.store.lock:
            data = self.store.objects.get(key) if key is not None else None
        if data is None:
            self._error(404, "NoSuchKey", "The specified key does not exist.")
            return
        headers = {"ETag": etag_of(data), "Content-Type": "binary/octet-stream"}
        wanted = self.headers.get("Range")
        if wanted is None:
            self._answer(200, data, headers)
            return
        first, _, last = wanted.removeprefix("bytes=").partition("-")
        start, end = int(first), min(int(last), len(data) - 1)
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        self._answer(206, data[start : end + 1], headers)

    def do_DELETE(self) -> None:
        """DeleteObject: 204 whether or not the key was there."""
        key = self._key()
        with self.store.lock:
            if key is not None:
                self.store.objects.pop(key, None)
        self._answer(204)
