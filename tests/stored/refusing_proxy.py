"""A store without compare-and-swap, for tests: a proxy in front of SeaweedFS that answers
every conditional PUT (``If-Match``/``If-None-Match``) with 501 Not Implemented, as S3
gateways without conditional writes do, and passes everything else through unchanged (the
request's own ``Host`` header included, so that its signature still holds).
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

NOT_IMPLEMENTED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NotImplemented</Code>'
    b"<Message>A header you provided implies functionality that is not implemented"
    b"</Message></Error>"
)
_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ("127.0.0.1", 0)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conditional = "If-Match" in self.headers or "If-None-Match" in self.headers
        if self.command == "PUT" and conditional:
            self._answer(501, [("Content-Type", "application/xml")], NOT_IMPLEMENTED)
            return
        upstream = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP:
                    upstream.putheader(name, value)
            upstream.endheaders(body)
            answer = upstream.getresponse()
            data = answer.read()
            headers = [(n, v) for n, v in answer.getheaders() if n.lower() not in _HOP]
            self._answer(answer.status, headers, data)
        finally:
            upstream.close()

    def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:
        """Pass through."""
        self._forward()

    def do_HEAD(self) -> None:
        """Pass through."""
        self._forward()

    def do_PUT(self) -> None:
        """Refuse a conditional PUT; pass through any other."""
        self._forward()

    def do_POST(self) -> None:
        """Pass through."""
        self._forward()

    def do_DELETE(self) -> None:
        """Pass through."""
        self._forward()


class RefusingProxy:
    """The proxy in front of the S3 endpoint ``upstream`` (``http://127.0.0.1:PORT``)."""

    def __init__(self, upstream: str) -> None:
        where = urlsplit(upstream)
        handler = type("Handler", (_Handler,), {"upstream": (where.hostname, where.port)})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """The proxy's URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RefusingProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
